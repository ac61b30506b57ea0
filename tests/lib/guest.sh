# SPDX-License-Identifier: GPL-2.0
#
# What a test inside the VM needs to know about the kernel it runs on.

# The kernel is PREEMPT_RT: interrupt handlers run in threads, spinlocks
# sleep (and so dm-snapshot is not used for captures there).
guest_is_preempt_rt() {
	grep -qx 1 /sys/kernel/realtime 2>/dev/null || uname -v | grep -q PREEMPT_RT
}

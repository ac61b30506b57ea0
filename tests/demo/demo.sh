#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make demo`: the whole flow on the embedded defaults, narrated. Runs in the
# test VM: a fresh ebscrypt-kmsd on loopback, the host agent, one volume
# under the default key alias/aws/ebs.
. /tests/e2e/lib.sh
set -e

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "Start a KMS (ebscrypt-kmsd) on 127.0.0.1:$KMS_PORT with a fresh key store, and the host agent"
e2e_setup
ctl agent status

say "Create a 64 MiB volume, encrypted under the default KMS key"
vol=$(ctl volume create --size 64M --encrypted)
echo "created $vol"
run ctl volume describe "$vol"

say "Its header: the wrapped key (by fingerprint only), the KMS key ARN, the encryption context"
run ctl header dump "$vol"

say "Attach: the agent asks KMS to Decrypt the wrapped key and gives it to the kernel"
dev=$(ctl volume attach "$vol")
echo "attached as $dev"
run dmsetup table "$vol"
echo "(the table names a logon key, already invalidated: no key bytes anywhere)"

say "Make a filesystem and write a file"
mkfs.ext4 -q "$dev"
mkdir -p /mnt/demo
mount -t ext4 "$dev" /mnt/demo
echo "Hello from an encrypted EBS-style volume" > /mnt/demo/hello.txt
run cat /mnt/demo/hello.txt
umount /mnt/demo

say "Detach: the kernel wipes the key"
run ctl volume detach "$vol"
run ctl volume list

say "Attach again: a fresh KMS Decrypt; the file is still there"
dev=$(ctl volume attach "$vol")
mount -t ext4 "$dev" /mnt/demo
run cat /mnt/demo/hello.txt
umount /mnt/demo
ctl volume detach "$vol" >/dev/null

say "The KMS audit trail: the data key generated without plaintext, then one Decrypt by the host per attach"
echo "(the first Decrypt, right after create, is the agent computing the key check value)"
sqlite3 -header -column "$KMSD_STATE/kmsd.db" \
	"SELECT time, principal, operation, outcome, encryption_context FROM audit WHERE operation IN ('GenerateDataKeyWithoutPlaintext','Decrypt');"

say "The raw backing image, where the filesystem starts (offset 1 MiB): ciphertext"
run od -An -tx1 -N 128 -j 1048576 "$(vol_image "$vol")"
if grep -q "Hello from an encrypted" "$(vol_image "$vol")"; then
	echo "PLAINTEXT FOUND ON DISK"; exit 1
fi
echo "(no trace of the file's text in the image)"

say "Snapshot it while attached and in use: the volume pauses only for the capture"
dev=$(ctl volume attach "$vol")
mount -t ext4 "$dev" /mnt/demo
snap=$(ctl snapshot create "$vol" 2>/dev/null)
echo "written after the snapshot" > /mnt/demo/later.txt
umount /mnt/demo
ctl volume detach "$vol" >/dev/null
run ctl snapshot describe "$snap"

say "Restore it: same DEK and lineage (re-wrapped for the new volume id), the file as it was"
new=$(ctl volume create --snapshot-id "$snap" 2>/dev/null)
echo "restored $new"
ctl header dump "$new" | grep -E 'volume_id|data_encryption_key_id|key_check_value|encryption_context'
dev=$(ctl volume attach "$new")
mount -t ext4 -o ro "$dev" /mnt/demo
run ls /mnt/demo
umount /mnt/demo
ctl volume detach "$new" >/dev/null

say "Restore it under another KMS key: a new DEK, the data re-encrypted block by block in the kernel"
key=$(ctl kms create-key --description demo-other | jq -r .KeyMetadata.Arn)
other=$(ctl volume create --snapshot-id "$snap" --kms-key-id "$key" 2>/dev/null)
ctl header dump "$other" | grep -E 'kms_key_id|data_encryption_key_id|key_check_value'

say "Encryption is never removed"
printf '$ ctl volume create --snapshot-id %s --no-encryption\n' "$snap"
ctl volume create --snapshot-id "$snap" --no-encryption || true

e2e_teardown
say "Done"

// SPDX-License-Identifier: GPL-2.0
/*
 * SigV4 against AWS's published signature test suite (credentials
 * AKIDEXAMPLE, 20150830T123600Z, us-east-1, service "service"), plus the
 * property the server relies on: changing any signed input changes the
 * signature.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sigv4.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static const struct sigv4_scope scope = { "20150830T123600Z", "us-east-1", "service" };

static void sign_expect(const char *method, const char *query,
			const struct sigv4_header *h, size_t nh,
			const char *body, const char *want)
{
	struct sigv4_request r = {
		.method = method, .path = "/", .query = query,
		.headers = h, .nheaders = nh,
		.body = body, .body_len = body ? strlen(body) : 0,
	};
	char sig[SIGV4_HEX_LEN + 1];

	assert_int_equal(sigv4_sign(&r, &scope, SECRET, strlen(SECRET), sig, NULL), 0);
	assert_string_equal(sig, want);
}

static const struct sigv4_header vanilla[] = {
	{ "Host", "example.amazonaws.com" },
	{ "X-Amz-Date", "20150830T123600Z" },
};

static void get_vanilla(void **state)
{
	struct sigv4_request r = { .method = "GET", .path = "/", .headers = vanilla, .nheaders = 2 };
	char *creq, hash[SIGV4_HEX_LEN + 1], *authz;

	assert_int_equal(sigv4_canonical_request(&r, &creq), 0);
	assert_string_equal(creq, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
			    "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sigv4_sha256_hex(creq, strlen(creq), hash);
	assert_string_equal(hash, "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
	free(creq);
	sign_expect("GET", NULL, vanilla, 2, NULL,
		    "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	assert_int_equal(sigv4_authorization(&r, &scope, "AKIDEXAMPLE", SECRET, strlen(SECRET), &authz), 0);
	assert_string_equal(authz, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
			    "SignedHeaders=host;x-amz-date, "
			    "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	free(authz);
}

static void get_vanilla_query_order_key_case(void **state)
{
	sign_expect("GET", "Param2=value2&Param1=value1", vanilla, 2, NULL,
		    "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

static void post_vanilla(void **state)
{
	sign_expect("POST", NULL, vanilla, 2, NULL,
		    "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

static void post_x_www_form_urlencoded(void **state)
{
	static const struct sigv4_header h[] = {
		{ "Content-Type", "application/x-www-form-urlencoded" },
		{ "Host", "example.amazonaws.com" },
		{ "X-Amz-Date", "20150830T123600Z" },
	};
	char hash[SIGV4_HEX_LEN + 1];

	sigv4_sha256_hex("Param1=value1", 13, hash);
	assert_string_equal(hash, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
	sign_expect("POST", NULL, h, 3, "Param1=value1",
		    "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

static void get_header_value_trim(void **state)
{
	static const struct sigv4_header h[] = {
		{ "Host", "example.amazonaws.com" },
		{ "My-Header1", " value1" },
		{ "My-Header2", " \"a   b   c\"" },
		{ "X-Amz-Date", "20150830T123600Z" },
	};

	sign_expect("GET", NULL, h, 4, NULL,
		    "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

/* A KMS-shaped request; each variant changes one signed input. */
static void any_signed_input_altered_changes_signature(void **state)
{
	struct sigv4_header h[] = {
		{ "Content-Type", "application/x-amz-json-1.1" },
		{ "Host", "127.0.0.1:8700" },
		{ "X-Amz-Date", "20150830T123600Z" },
		{ "X-Amz-Target", "TrentService.Decrypt" },
	};
	const char *body = "{\"CiphertextBlob\":\"AAAA\"}";
	struct sigv4_request r = { .method = "POST", .path = "/", .headers = h, .nheaders = 4,
				   .body = body, .body_len = strlen(body) };
	char good[SIGV4_HEX_LEN + 1], sig[SIGV4_HEX_LEN + 1];
	static const char *altered[] = {
		"application/json", "127.0.0.1:8701", "20150830T123601Z", "TrentService.Encrypt",
	};
	size_t i;

	assert_int_equal(sigv4_sign(&r, &scope, SECRET, strlen(SECRET), good, NULL), 0);
	for (i = 0; i < 4; i++) {
		const char *keep = h[i].value;

		h[i].value = altered[i];
		assert_int_equal(sigv4_sign(&r, &scope, SECRET, strlen(SECRET), sig, NULL), 0);
		assert_false(sigv4_signature_equal(sig, good));
		h[i].value = keep;
	}
	r.body = "{\"CiphertextBlob\":\"AAAB\"}";
	assert_int_equal(sigv4_sign(&r, &scope, SECRET, strlen(SECRET), sig, NULL), 0);
	assert_false(sigv4_signature_equal(sig, good));
	r.body = body;
	r.method = "PUT";
	assert_int_equal(sigv4_sign(&r, &scope, SECRET, strlen(SECRET), sig, NULL), 0);
	assert_false(sigv4_signature_equal(sig, good));
	r.method = "POST";
	assert_int_equal(sigv4_sign(&r, &scope, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ",
				    strlen(SECRET), sig, NULL), 0);
	assert_false(sigv4_signature_equal(sig, good));
	assert_int_equal(sigv4_sign(&r, &scope, SECRET, strlen(SECRET), sig, NULL), 0);
	assert_true(sigv4_signature_equal(sig, good));
}

static void missing_signed_header_is_an_error(void **state)
{
	struct sigv4_request r = { .method = "POST", .path = "/", .headers = vanilla, .nheaders = 2,
				   .signed_headers = "host;x-amz-date;x-amz-target" };
	char sig[SIGV4_HEX_LEN + 1];

	assert_int_equal(sigv4_sign(&r, &scope, SECRET, strlen(SECRET), sig, NULL), -ENOENT);
}

static void authorization_header_parses(void **state)
{
	struct sigv4_auth a;

	assert_int_equal(sigv4_parse_authorization(
		"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, "
		"SignedHeaders=content-type;host;x-amz-date, "
		"Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", &a), 0);
	assert_string_equal(a.access_key_id, "AKIDEXAMPLE");
	assert_string_equal(a.date, "20150830");
	assert_string_equal(a.region, "us-east-1");
	assert_string_equal(a.service, "kms");
	assert_string_equal(a.signed_headers, "content-type;host;x-amz-date");
}

static void malformed_authorization_headers_are_refused(void **state)
{
	static const char *bad[] = {
		"",
		"AWS4-HMAC-SHA1 Credential=A/20150830/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"AWS4-HMAC-SHA256 SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/kms/aws4_request, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/kms/aws4_request, SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/kms/aws4_requesx, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"AWS4-HMAC-SHA256 Credential=A/2015083/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/kms/x/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf3",
		"AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=zfa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/kms/aws4_request, SignedHeaders=Host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31, Extra=1",
		"AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	};
	struct sigv4_auth a;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sigv4_parse_authorization(bad[i], &a), -EINVAL);
	}
}

static void amz_dates_round_trip(void **state)
{
	char s[17];
	long long t;

	assert_int_equal(sigv4_parse_amz_date("20150830T123600Z", &t), 0);
	assert_int_equal(t, 1440938160LL);
	assert_int_equal(sigv4_amz_date(t, s), 0);
	assert_string_equal(s, "20150830T123600Z");
	assert_int_equal(sigv4_parse_amz_date("20150830T123600", &t), -EINVAL);
	assert_int_equal(sigv4_parse_amz_date("2015-08-30T12:36", &t), -EINVAL);
}

/*
 * A query parameter without '=' has an empty value, which once came back
 * from the string buffer unterminated: the canonical request then read
 * past the buffer (ASan: heap-buffer-overflow).
 */
static void a_query_parameter_without_a_value_canonicalises_to_name_equals(void **state)
{
	struct sigv4_request r = { .method = "POST", .path = "/", .query = "b&a=1&c=",
				   .headers = vanilla, .nheaders = 2 };
	char *creq;

	assert_int_equal(sigv4_canonical_request(&r, &creq), 0);
	assert_non_null(strstr(creq, "\n/\na=1&b=&c=\nhost:"));
	free(creq);
}

#define T(name, fn) { name, fn, NULL, NULL, NULL }

int main(void)
{
	const struct CMUnitTest tests[] = {
		T("the get-vanilla vector gives AWS's canonical request and signature", get_vanilla),
		T("the get-vanilla-query-order-key-case vector sorts the query", get_vanilla_query_order_key_case),
		T("the post-vanilla vector signs the empty body", post_vanilla),
		T("the post-x-www-form-urlencoded vector signs the body and content type", post_x_www_form_urlencoded),
		T("the get-header-value-trim vector trims and collapses header values", get_header_value_trim),
		T("altering any signed header, the body, the method or the secret changes the signature", any_signed_input_altered_changes_signature),
		T("a signed header missing from the request is an error", missing_signed_header_is_an_error),
		T("a well-formed Authorization header parses into its parts", authorization_header_parses),
		T("malformed Authorization headers are refused", malformed_authorization_headers_are_refused),
		T("amz dates parse and format in UTC", amz_dates_round_trip),
		T("a query parameter without a value canonicalises to \"name=\"", a_query_parameter_without_a_value_canonicalises_to_name_equals),
	};

	return cmocka_run_group_tests_name("sigv4", tests, NULL, NULL);
}

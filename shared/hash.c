/*
 * hash.c - SHA-256 (OpenSSL libcrypto) and base64 for atlas.sum (§b) and
 * partial hashes (§f.4).
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <string.h>

#include <openssl/evp.h>

#include "mig.h"

int
mig_sha256_init(mig_sha256 *h)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	h->ctx = ctx;
	if (ctx == NULL)
		return MIG_ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
	{
		EVP_MD_CTX_free(ctx);
		h->ctx = NULL;
		return MIG_ENOMEM;
	}
	return MIG_OK;
}

void
mig_sha256_update(mig_sha256 *h, const void *data, size_t len)
{
	if (h->ctx && len)
		EVP_DigestUpdate((EVP_MD_CTX *) h->ctx, data, len);
}

int
mig_sha256_peek_b64(const mig_sha256 *h, char out[MIG_B64_SHA256])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *copy;

	out[0] = '\0';
	if (h->ctx == NULL || (copy = EVP_MD_CTX_new()) == NULL)
		return MIG_ENOMEM;
	if (EVP_MD_CTX_copy_ex(copy, (EVP_MD_CTX *) h->ctx) != 1 ||
		EVP_DigestFinal_ex(copy, md, &mdlen) != 1)
	{
		EVP_MD_CTX_free(copy);
		return MIG_ENOMEM;
	}
	EVP_MD_CTX_free(copy);
	mig_base64_encode(md, mdlen, out);
	return MIG_OK;
}

void
mig_sha256_free(mig_sha256 *h)
{
	if (h->ctx)
		EVP_MD_CTX_free((EVP_MD_CTX *) h->ctx);
	h->ctx = NULL;
}

static const char b64[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
mig_base64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t		i,
				o = 0;

	for (i = 0; i + 2 < n; i += 3)
	{
		unsigned	v = (unsigned) in[i] << 16 | (unsigned) in[i + 1] << 8 | in[i + 2];

		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (n - i == 1)
	{
		unsigned	v = (unsigned) in[i] << 16;

		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	}
	else if (n - i == 2)
	{
		unsigned	v = (unsigned) in[i] << 16 | (unsigned) in[i + 1] << 8;

		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
mig_base64_decode(const char *in, size_t n, unsigned char *out)
{
	size_t		i;
	long		o = 0;
	unsigned	acc = 0;
	int			bits = 0,
				pad = 0;

	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) in[i];
		int			v;

		if (c == '=')
		{
			/* padding only in the last two positions */
			if (i < n - 2)
				return -1;
			pad++;
			continue;
		}
		if (pad)
			return -1;
		v = b64val(c);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[o++] = (unsigned char) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return o;
}

/*
 * curl_lazy.c - open libcurl on first use (curl_lazy.h says why).
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <dlfcn.h>
#include <string.h>

#include "curl_lazy.h"

/* The soname of libcurl 7.x and 8.x (Debian: libcurl4, libcurl4-openssl-dev). */
#define MIG_CURL_SONAME "libcurl.so.4"

mig_curl_api mig_curl;

int
mig_curl_load(mig_err *err)
{
	static bool loaded;
	mig_curl_api api;
	void	   *lib;
	const char *missing = NULL;

	if (loaded)
		return MIG_OK;
	/* RTLD_LOCAL: its symbols stay out of the host's namespace */
	if ((lib = dlopen(MIG_CURL_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL)
	{
		const char *why = dlerror();

		return mig_err_set(err, MIG_ECLOUD, "atlas cloud: libcurl (%s) cannot be loaded: %s",
						   MIG_CURL_SONAME, why ? why : "unknown error");
	}
	memset(&api, 0, sizeof(api));
#define SYM(field, name) \
	do { \
		if (missing == NULL && (*(void **) &api.field = dlsym(lib, name)) == NULL) \
			missing = name; \
	} while (0)
	SYM(global_init, "curl_global_init");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(free, "curl_free");
	SYM(multi_init, "curl_multi_init");
	SYM(multi_add_handle, "curl_multi_add_handle");
	SYM(multi_remove_handle, "curl_multi_remove_handle");
	SYM(multi_perform, "curl_multi_perform");
	SYM(multi_wait, "curl_multi_wait");
#if LIBCURL_VERSION_NUM >= 0x074200
	SYM(multi_poll, "curl_multi_poll");
#endif
	SYM(multi_info_read, "curl_multi_info_read");
	SYM(multi_cleanup, "curl_multi_cleanup");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
	SYM(url, "curl_url");
	SYM(url_cleanup, "curl_url_cleanup");
	SYM(url_set, "curl_url_set");
	SYM(url_get, "curl_url_get");
#undef SYM
	if (missing)
	{
		dlclose(lib);
		return mig_err_set(err, MIG_ECLOUD, "atlas cloud: %s has no function %s (libcurl too old)",
						   MIG_CURL_SONAME, missing);
	}
	/* kept open for the life of the process, as a linked library would be */
	mig_curl = api;
	loaded = true;
	return MIG_OK;
}

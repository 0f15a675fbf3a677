/*
 * curl_lazy.h - libcurl, loaded when the first Atlas Cloud call needs it.
 *
 * Linking libcurl makes every process that loads the extension load it and
 * its two dozen libraries (LDAP, Kerberos, SSH, ...): about 20 ms for each
 * sqlite3 process or PostgreSQL backend, most of which never call the
 * Cloud.  So the extension does not link it: source_cloud.c includes this
 * header instead of <curl/curl.h>, and mig_curl_load() opens libcurl.so.4
 * on first use.  The curl_* names below resolve to its functions.
 *
 * Only source_cloud.c includes this file.
 */
#ifndef MIG_CURL_LAZY_H
#define MIG_CURL_LAZY_H

#define CURL_DISABLE_TYPECHECK	/* curl_easy_setopt etc. are plain calls here */
#include <curl/curl.h>

#include "mig.h"

/* The libcurl functions source_cloud.c calls. */
typedef struct mig_curl_api {
	CURLcode	(*global_init) (long flags);
	CURL	   *(*easy_init) (void);
	CURLcode	(*easy_setopt) (CURL *curl, CURLoption option,...);
	CURLcode	(*easy_getinfo) (CURL *curl, CURLINFO info,...);
	void		(*easy_cleanup) (CURL *curl);
	const char *(*easy_strerror) (CURLcode code);
	void		(*free) (void *p);
	CURLM	   *(*multi_init) (void);
	CURLMcode	(*multi_add_handle) (CURLM *m, CURL *curl);
	CURLMcode	(*multi_remove_handle) (CURLM *m, CURL *curl);
	CURLMcode	(*multi_perform) (CURLM *m, int *running);
	CURLMcode	(*multi_wait) (CURLM *m, struct curl_waitfd *fds, unsigned nfds, int timeout_ms, int *numfds);
#if LIBCURL_VERSION_NUM >= 0x074200
	CURLMcode	(*multi_poll) (CURLM *m, struct curl_waitfd *fds, unsigned nfds, int timeout_ms, int *numfds);
#endif
	CURLMsg    *(*multi_info_read) (CURLM *m, int *msgs_in_queue);
	CURLMcode	(*multi_cleanup) (CURLM *m);
	struct curl_slist *(*slist_append) (struct curl_slist *list, const char *s);
	void		(*slist_free_all) (struct curl_slist *list);
	CURLU	   *(*url) (void);
	void		(*url_cleanup) (CURLU *u);
	CURLUcode	(*url_set) (CURLU *u, CURLUPart part, const char *content, unsigned flags);
	CURLUcode	(*url_get) (const CURLU *u, CURLUPart part, char **content, unsigned flags);
} mig_curl_api;

extern mig_curl_api mig_curl;

/*
 * Load libcurl once (thread-unsafe, as the hosts call the core from one
 * thread).  MIG_ECLOUD naming the library when it cannot be loaded.  Every
 * curl_* call below must come after it succeeded.
 */
int			mig_curl_load(mig_err *err);

/* curl.h's own argument-count macros for these two */
#undef curl_easy_setopt
#undef curl_easy_getinfo

#define curl_global_init (*mig_curl.global_init)
#define curl_easy_init (*mig_curl.easy_init)
#define curl_easy_setopt (*mig_curl.easy_setopt)
#define curl_easy_getinfo (*mig_curl.easy_getinfo)
#define curl_easy_cleanup (*mig_curl.easy_cleanup)
#define curl_easy_strerror (*mig_curl.easy_strerror)
#define curl_free (*mig_curl.free)
#define curl_multi_init (*mig_curl.multi_init)
#define curl_multi_add_handle (*mig_curl.multi_add_handle)
#define curl_multi_remove_handle (*mig_curl.multi_remove_handle)
#define curl_multi_perform (*mig_curl.multi_perform)
#define curl_multi_wait (*mig_curl.multi_wait)
#define curl_multi_poll (*mig_curl.multi_poll)
#define curl_multi_info_read (*mig_curl.multi_info_read)
#define curl_multi_cleanup (*mig_curl.multi_cleanup)
#define curl_slist_append (*mig_curl.slist_append)
#define curl_slist_free_all (*mig_curl.slist_free_all)
#define curl_url (*mig_curl.url)
#define curl_url_cleanup (*mig_curl.url_cleanup)
#define curl_url_set (*mig_curl.url_set)
#define curl_url_get (*mig_curl.url_get)

#endif							/* MIG_CURL_LAZY_H */

/*
 * libsrtp 3 calls made by mediasoup's worker (see ../include/srtp.h),
 * implemented over libsrtp 2.5.0. Compiled against libsrtp 2's own srtp.h,
 * with srtp2_rename.h force-included, and with
 * -Werror=implicit-function-declaration so that a libsrtp 2 name that does
 * not exist fails here rather than at the final Rust link.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "srtp.h" /* libsrtp 2 */

/* libsrtp 3's srtp_err_status_buffer_small (see ../include/srtp.h). */
#define SRTP3_ERR_STATUS_BUFFER_SMALL ((srtp_err_status_t)28)

struct podium_srtp3_policy {
    srtp_policy_t v2;
    unsigned char key[SRTP_MAX_KEY_LEN];
};

typedef struct podium_srtp3_policy *srtp3_policy_t;

srtp_err_status_t srtp_policy_create(srtp3_policy_t *policy)
{
    if (policy == NULL)
        return srtp_err_status_bad_param;
    *policy = calloc(1, sizeof(struct podium_srtp3_policy));
    if (*policy == NULL)
        return srtp_err_status_alloc_fail;
    (*policy)->v2.key = (*policy)->key;
    (*policy)->v2.next = NULL;
    return srtp_err_status_ok;
}

void srtp_policy_destroy(srtp3_policy_t policy)
{
    if (policy == NULL)
        return;
    /* The policy held a master key: wipe it before freeing. */
    memset(policy->key, 0, sizeof(policy->key));
    free(policy);
}

srtp_err_status_t srtp_policy_set_ssrc(srtp3_policy_t policy, srtp_ssrc_t ssrc)
{
    if (policy == NULL)
        return srtp_err_status_bad_param;
    policy->v2.ssrc = ssrc;
    return srtp_err_status_ok;
}

srtp_err_status_t srtp_policy_set_profile(srtp3_policy_t policy,
                                          srtp_profile_t profile)
{
    srtp_err_status_t err;

    if (policy == NULL)
        return srtp_err_status_bad_param;
    err = srtp_crypto_policy_set_from_profile_for_rtp(&policy->v2.rtp, profile);
    if (err != srtp_err_status_ok)
        return err;
    return srtp_crypto_policy_set_from_profile_for_rtcp(&policy->v2.rtcp,
                                                        profile);
}

srtp_err_status_t srtp_policy_add_key(srtp3_policy_t policy,
                                      const uint8_t *key,
                                      size_t key_len,
                                      const uint8_t *salt,
                                      size_t salt_len,
                                      const uint8_t *mki,
                                      size_t mki_len)
{
    if (policy == NULL || key == NULL || (salt == NULL && salt_len > 0))
        return srtp_err_status_bad_param;
    /* One key without MKI is all mediasoup uses. */
    if (mki != NULL || mki_len != 0)
        return srtp_err_status_bad_param;
    if (key_len + salt_len > sizeof(policy->key))
        return srtp_err_status_bad_param;
    /* libsrtp 2 takes the master key and salt as one buffer. */
    memcpy(policy->key, key, key_len);
    if (salt_len > 0)
        memcpy(policy->key + key_len, salt, salt_len);
    return srtp_err_status_ok;
}

srtp_err_status_t srtp_policy_set_allow_repeat_tx(srtp3_policy_t policy,
                                                  bool allow)
{
    if (policy == NULL)
        return srtp_err_status_bad_param;
    policy->v2.allow_repeat_tx = allow ? 1 : 0;
    return srtp_err_status_ok;
}

srtp_err_status_t srtp_policy_set_window_size(srtp3_policy_t policy,
                                              size_t window_size)
{
    if (policy == NULL)
        return srtp_err_status_bad_param;
    policy->v2.window_size = (unsigned long)window_size;
    return srtp_err_status_ok;
}

size_t podium_srtp3_master_key_length(srtp_profile_t profile)
    __asm__("srtp_profile_get_master_key_length");
size_t podium_srtp3_master_key_length(srtp_profile_t profile)
{
    return srtp2_profile_get_master_key_length(profile);
}

size_t podium_srtp3_master_salt_length(srtp_profile_t profile)
    __asm__("srtp_profile_get_master_salt_length");
size_t podium_srtp3_master_salt_length(srtp_profile_t profile)
{
    return srtp2_profile_get_master_salt_length(profile);
}

srtp_err_status_t podium_srtp3_create(srtp_t *session,
                                      const srtp3_policy_t policy)
    __asm__("srtp_create");
srtp_err_status_t podium_srtp3_create(srtp_t *session,
                                      const srtp3_policy_t policy)
{
    if (session == NULL || policy == NULL)
        return srtp_err_status_bad_param;
    return srtp2_create(session, &policy->v2);
}

srtp_err_status_t srtp_stream_remove(srtp_t session, uint32_t ssrc)
{
    return srtp_remove_stream(session, ssrc);
}

/* Copies in to out (unless in place) and checks out can take len + room. */
static srtp_err_status_t prepare(const uint8_t *in,
                                 size_t len,
                                 uint8_t *out,
                                 size_t out_capacity,
                                 size_t room)
{
    if (in == NULL || out == NULL || len > INT_MAX - room)
        return srtp_err_status_bad_param;
    if (out_capacity < len + room)
        return SRTP3_ERR_STATUS_BUFFER_SMALL;
    if (in != out)
        memmove(out, in, len);
    return srtp_err_status_ok;
}

srtp_err_status_t podium_srtp3_protect(srtp_t ctx,
                                       const uint8_t *rtp,
                                       size_t rtp_len,
                                       uint8_t *srtp,
                                       size_t *srtp_len,
                                       size_t mki_index)
    __asm__("srtp_protect");
srtp_err_status_t podium_srtp3_protect(srtp_t ctx,
                                       const uint8_t *rtp,
                                       size_t rtp_len,
                                       uint8_t *srtp,
                                       size_t *srtp_len,
                                       size_t mki_index)
{
    srtp_err_status_t err;
    int len;

    if (srtp_len == NULL || mki_index != 0)
        return srtp_err_status_bad_param;
    err = prepare(rtp, rtp_len, srtp, *srtp_len, SRTP_MAX_TRAILER_LEN);
    if (err != srtp_err_status_ok)
        return err;
    len = (int)rtp_len;
    err = srtp2_protect(ctx, srtp, &len);
    if (err == srtp_err_status_ok)
        *srtp_len = (size_t)len;
    return err;
}

srtp_err_status_t podium_srtp3_unprotect(srtp_t ctx,
                                         const uint8_t *srtp,
                                         size_t srtp_len,
                                         uint8_t *rtp,
                                         size_t *rtp_len)
    __asm__("srtp_unprotect");
srtp_err_status_t podium_srtp3_unprotect(srtp_t ctx,
                                         const uint8_t *srtp,
                                         size_t srtp_len,
                                         uint8_t *rtp,
                                         size_t *rtp_len)
{
    srtp_err_status_t err;
    int len;

    if (rtp_len == NULL)
        return srtp_err_status_bad_param;
    err = prepare(srtp, srtp_len, rtp, *rtp_len, 0);
    if (err != srtp_err_status_ok)
        return err;
    len = (int)srtp_len;
    err = srtp2_unprotect(ctx, rtp, &len);
    if (err == srtp_err_status_ok)
        *rtp_len = (size_t)len;
    return err;
}

srtp_err_status_t podium_srtp3_protect_rtcp(srtp_t ctx,
                                            const uint8_t *rtcp,
                                            size_t rtcp_len,
                                            uint8_t *srtcp,
                                            size_t *srtcp_len,
                                            size_t mki_index)
    __asm__("srtp_protect_rtcp");
srtp_err_status_t podium_srtp3_protect_rtcp(srtp_t ctx,
                                            const uint8_t *rtcp,
                                            size_t rtcp_len,
                                            uint8_t *srtcp,
                                            size_t *srtcp_len,
                                            size_t mki_index)
{
    srtp_err_status_t err;
    int len;

    if (srtcp_len == NULL || mki_index != 0)
        return srtp_err_status_bad_param;
    /* libsrtp 2 appends the 4-byte SRTCP index besides the trailer. */
    err = prepare(rtcp, rtcp_len, srtcp, *srtcp_len, SRTP_MAX_TRAILER_LEN + 4);
    if (err != srtp_err_status_ok)
        return err;
    len = (int)rtcp_len;
    err = srtp2_protect_rtcp(ctx, srtcp, &len);
    if (err == srtp_err_status_ok)
        *srtcp_len = (size_t)len;
    return err;
}

srtp_err_status_t podium_srtp3_unprotect_rtcp(srtp_t ctx,
                                              const uint8_t *srtcp,
                                              size_t srtcp_len,
                                              uint8_t *rtcp,
                                              size_t *rtcp_len)
    __asm__("srtp_unprotect_rtcp");
srtp_err_status_t podium_srtp3_unprotect_rtcp(srtp_t ctx,
                                              const uint8_t *srtcp,
                                              size_t srtcp_len,
                                              uint8_t *rtcp,
                                              size_t *rtcp_len)
{
    srtp_err_status_t err;
    int len;

    if (rtcp_len == NULL)
        return srtp_err_status_bad_param;
    err = prepare(srtcp, srtcp_len, rtcp, *rtcp_len, 0);
    if (err != srtp_err_status_ok)
        return err;
    len = (int)srtcp_len;
    err = srtp2_unprotect_rtcp(ctx, rtcp, &len);
    if (err == srtp_err_status_ok)
        *rtcp_len = (size_t)len;
    return err;
}

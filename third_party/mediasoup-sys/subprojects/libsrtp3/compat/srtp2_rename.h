/*
 * Force-included (-include) into every libsrtp 2 source file and into the
 * compat layer: libsrtp 2 functions whose names libsrtp 3 reuses with other
 * signatures get an srtp2_ prefix, so both APIs link into one archive.
 */
#ifndef PODIUM_SRTP2_RENAME_H
#define PODIUM_SRTP2_RENAME_H

#define srtp_create srtp2_create
#define srtp_protect srtp2_protect
#define srtp_unprotect srtp2_unprotect
#define srtp_protect_rtcp srtp2_protect_rtcp
#define srtp_unprotect_rtcp srtp2_unprotect_rtcp
#define srtp_profile_get_master_key_length srtp2_profile_get_master_key_length
#define srtp_profile_get_master_salt_length srtp2_profile_get_master_salt_length

#endif

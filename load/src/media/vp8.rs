//! The VP8 RTP payload descriptor (RFC 7741, 4.2): enough to find keyframes
//! and to keep picture IDs continuous when the publisher loops or skips.

/// Offset of the 15-bit picture ID, when the descriptor carries one.
fn picture_id_offset(payload: &[u8]) -> Option<usize> {
    let first = *payload.first()?;
    if first & 0x80 == 0 {
        return None; // no extension byte
    }
    let ext = *payload.get(1)?;
    if ext & 0x80 == 0 {
        return None; // no picture ID
    }
    let pid = *payload.get(2)?;
    (pid & 0x80 != 0 && payload.len() >= 4).then_some(2)
}

/// Length of the payload descriptor.
fn descriptor_len(payload: &[u8]) -> Option<usize> {
    let first = *payload.first()?;
    let mut len = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(1)?;
        len += 1;
        if ext & 0x80 != 0 {
            len += if payload.get(len)? & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            len += 1; // TL0PICIDX
        }
        if ext & 0x30 != 0 {
            len += 1; // TID / KEYIDX
        }
    }
    (len <= payload.len()).then_some(len)
}

/// True for the first packet of a keyframe: start of partition 0, and the
/// VP8 frame header's inverse key-frame bit cleared.
pub fn is_keyframe_start(payload: &[u8]) -> bool {
    let Some(first) = payload.first() else {
        return false;
    };
    let start_of_partition = first & 0x10 != 0 && first & 0x07 == 0;
    let Some(len) = descriptor_len(payload) else {
        return false;
    };
    start_of_partition && payload.get(len).is_some_and(|h| h & 0x01 == 0)
}

/// Writes a 15-bit picture ID into a copy of `payload`, when it has one.
pub fn with_picture_id(payload: &[u8], picture_id: u16) -> Vec<u8> {
    let mut out = payload.to_vec();
    if let Some(at) = picture_id_offset(payload) {
        let id = picture_id & 0x7fff;
        out[at] = 0x80 | (id >> 8) as u8;
        out[at + 1] = (id & 0xff) as u8;
    }
    out
}

/// The 15-bit picture ID of a payload, if any.
#[cfg(test)]
pub fn picture_id(payload: &[u8]) -> Option<u16> {
    let at = picture_id_offset(payload)?;
    Some(u16::from_be_bytes([payload[at] & 0x7f, payload[at + 1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    // X=1, S=1, PID=0 | I=1 | M=1 picture id 0x1234 | VP8 header byte.
    fn start(key: bool) -> Vec<u8> {
        vec![
            0x90,
            0x80,
            0x80 | 0x12,
            0x34,
            if key { 0x10 } else { 0x11 },
            0,
            0,
        ]
    }

    #[test]
    fn finds_keyframes() {
        assert!(is_keyframe_start(&start(true)));
        assert!(!is_keyframe_start(&start(false)));
        // Not the start of a partition.
        let mut middle = start(true);
        middle[0] = 0x80;
        assert!(!is_keyframe_start(&middle));
        // Without the extension byte.
        assert!(is_keyframe_start(&[0x10, 0x00]));
        assert!(!is_keyframe_start(&[]));
    }

    #[test]
    fn rewrites_picture_ids() {
        let p = start(true);
        assert_eq!(picture_id(&p), Some(0x1234));
        let q = with_picture_id(&p, 0x7abc);
        assert_eq!(picture_id(&q), Some(0x7abc));
        assert_eq!(&q[4..], &p[4..]);
        assert!(is_keyframe_start(&q));
        // Wraps at 15 bits.
        assert_eq!(picture_id(&with_picture_id(&p, 0x8001)), Some(1));
        // No picture ID: unchanged.
        assert_eq!(with_picture_id(&[0x10, 0x00], 5), vec![0x10, 0x00]);
    }
}

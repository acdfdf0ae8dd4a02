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

/// The picture size a keyframe's first packet announces (RFC 6386, 9.1:
/// after the 3-byte frame tag, the start code 9d 01 2a, then 14-bit width
/// and height, little-endian).
pub fn keyframe_size(payload: &[u8]) -> Option<(u16, u16)> {
    if !is_keyframe_start(payload) {
        return None;
    }
    let header = payload.get(descriptor_len(payload)?..)?;
    if header.get(3..6)? != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let size = header.get(6..10)?;
    let width = u16::from_le_bytes([size[0], size[1]]) & 0x3fff;
    let height = u16::from_le_bytes([size[2], size[3]]) & 0x3fff;
    Some((width, height))
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
    fn reads_a_keyframe_size() {
        // Descriptor (start of partition 0, no extension), frame tag of a
        // keyframe, start code, 640 x 360.
        let key = [
            0x10, 0x50, 0x2a, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 0xff,
        ];
        assert_eq!(keyframe_size(&key), Some((640, 360)));
        let mut delta = key;
        delta[1] |= 0x01;
        assert_eq!(keyframe_size(&delta), None);
        assert_eq!(keyframe_size(&key[..8]), None);
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

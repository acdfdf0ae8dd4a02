//! RTP packets as GStreamer's `rtpstreampay` writes them (RFC 4571: a 16-bit
//! big-endian length before each packet), parsed down to what the publisher
//! replays: marker, timestamp and payload.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RtpError {
    #[error("truncated stream: {0} bytes left over")]
    Truncated(usize),
    #[error("not RTP version 2 (first byte {0:#04x})")]
    Version(u8),
    #[error("RTP packet too short ({0} bytes)")]
    Short(usize),
}

/// One packet of a recorded stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub payload: Vec<u8>,
}

/// Splits an RFC 4571 stream into packets and parses each.
pub fn parse_stream(mut data: &[u8]) -> Result<Vec<Packet>, RtpError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 2 {
            return Err(RtpError::Truncated(data.len()));
        }
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let packet = data
            .get(2..2 + len)
            .ok_or(RtpError::Truncated(data.len()))?;
        out.push(parse_packet(packet)?);
        data = &data[2 + len..];
    }
    Ok(out)
}

/// Parses the fixed header, skips CSRCs and the extension, removes padding.
pub fn parse_packet(p: &[u8]) -> Result<Packet, RtpError> {
    if p.len() < 12 {
        return Err(RtpError::Short(p.len()));
    }
    if p[0] >> 6 != 2 {
        return Err(RtpError::Version(p[0]));
    }
    let padding = p[0] & 0x20 != 0;
    let extension = p[0] & 0x10 != 0;
    let csrc_count = usize::from(p[0] & 0x0f);
    let mut start = 12 + 4 * csrc_count;
    if extension {
        let words = p
            .get(start + 2..start + 4)
            .ok_or(RtpError::Short(p.len()))?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    let mut end = p.len();
    if padding {
        end = end.saturating_sub(usize::from(*p.last().unwrap_or(&0)));
    }
    if start > end {
        return Err(RtpError::Short(p.len()));
    }
    Ok(Packet {
        marker: p[1] & 0x80 != 0,
        payload_type: p[1] & 0x7f,
        sequence: u16::from_be_bytes([p[2], p[3]]),
        timestamp: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        payload: p[start..end].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(marker: bool, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, if marker { 0x80 | 96 } else { 96 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn framed(packets: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in packets {
            out.extend_from_slice(&(p.len() as u16).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    #[test]
    fn parses_a_framed_stream() {
        let stream = framed(&[packet(false, 1, 90, b"ab"), packet(true, 2, 90, b"cde")]);
        let packets = parse_stream(&stream).unwrap();
        assert_eq!(packets.len(), 2);
        assert_eq!(packets[1].payload, b"cde");
        assert!(packets[1].marker);
        assert_eq!(packets[0].payload_type, 96);
        assert_eq!(packets[0].timestamp, 90);
    }

    #[test]
    fn skips_csrcs_and_extensions_and_padding() {
        let mut p = vec![0x80 | 0x20 | 0x10 | 0x01, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
        p.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // one-word extension
        p.extend_from_slice(b"xy");
        p.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        assert_eq!(parse_packet(&p).unwrap().payload, b"xy");
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_stream(&[0, 5, 1]), Err(RtpError::Truncated(3)));
        assert_eq!(parse_packet(&[0x80; 4]), Err(RtpError::Short(4)));
        assert_eq!(parse_packet(&[0x40; 12]), Err(RtpError::Version(0x40)));
    }
}

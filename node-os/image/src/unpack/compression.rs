//! Layer decompression, chosen by the blob's first bytes rather than its media type: Docker's
//! media type says gzip for every layer, and some registries relabel. gzip (possibly several
//! members, as pigz writes), zstd, or a plain tar.

use std::io::{self, BufRead, Read};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// The compression a blob's first bytes show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detected {
    Gzip,
    Zstd,
    Plain,
}

pub fn detect(head: &[u8]) -> Detected {
    if head.starts_with(GZIP_MAGIC) {
        Detected::Gzip
    } else if head.starts_with(ZSTD_MAGIC) {
        Detected::Zstd
    } else {
        Detected::Plain
    }
}

/// Wraps `reader` in the decoder its first bytes call for.
pub fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let head = reader.fill_buf()?;
    Ok(match detect(head) {
        Detected::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Detected::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
        Detected::Plain => Box::new(reader),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_zstd_and_plain_round_trip() {
        let data = b"some tar bytes".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::stream::encode_all(&data[..], 1).unwrap();
        for (blob, kind) in [
            (gz, Detected::Gzip),
            (zst, Detected::Zstd),
            (data.clone(), Detected::Plain),
        ] {
            assert_eq!(detect(&blob), kind);
            let mut out = Vec::new();
            decompress(&blob[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{kind:?}");
        }
    }
}

//! Is an executable static? An image with one binary and no libc must not hold a program the
//! kernel would hand to a dynamic loader (`PT_INTERP`) or one that names shared libraries
//! (`DT_NEEDED`): it would fail in the container with a bare "no such file or directory".
//! Reads 64-bit little-endian ELF program headers; pure, no IO.

/// The image `architecture` an ELF machine runs as.
pub fn architecture(machine: u16) -> Option<&'static str> {
    match machine {
        62 => Some("amd64"),
        183 => Some("arm64"),
        _ => None,
    }
}

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;

/// Checks that `elf` is a 64-bit little-endian executable without an interpreter or needed
/// shared libraries (static, or static-pie as Rust's `+crt-static` links), and returns its
/// image architecture.
pub fn check_static(elf: &[u8]) -> Result<&'static str, String> {
    if elf.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    if elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let e_type = u16_at(elf, 16)?;
    if e_type != ET_EXEC && e_type != ET_DYN {
        return Err(format!("ELF type {e_type} is not an executable"));
    }
    let machine = u16_at(elf, 18)?;
    let arch = architecture(machine).ok_or_else(|| format!("unsupported ELF machine {machine}"))?;
    let phoff = u64_at(elf, 32)?;
    let phentsize = u64::from(u16_at(elf, 54)?);
    let phnum = u64::from(u16_at(elf, 56)?);
    if phentsize < 56 {
        return Err(format!("program header entries of {phentsize} bytes"));
    }
    if phnum == 0 {
        return Err("no program headers".into());
    }
    for i in 0..phnum {
        let ph = phoff
            .checked_add(i * phentsize)
            .ok_or("program header offset overflows")?;
        let p_type = u32_at(elf, ph)?;
        let p_offset = u64_at(elf, ph + 8)?;
        let p_filesz = u64_at(elf, ph + 32)?;
        let segment = slice(elf, p_offset, p_filesz)?;
        match p_type {
            PT_INTERP => {
                let interpreter = String::from_utf8_lossy(segment);
                return Err(format!(
                    "it asks for the dynamic loader {}",
                    interpreter.trim_end_matches('\0')
                ));
            }
            PT_DYNAMIC => {
                for entry in segment.chunks_exact(16) {
                    let tag = u64_at(entry, 0)?;
                    if tag == DT_NULL {
                        break;
                    }
                    if tag == DT_NEEDED {
                        return Err("it needs shared libraries (DT_NEEDED)".into());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(arch)
}

fn slice(bytes: &[u8], offset: u64, len: u64) -> Result<&[u8], String> {
    let start = usize::try_from(offset).map_err(|_| "offset out of range")?;
    let len = usize::try_from(len).map_err(|_| "length out of range")?;
    start
        .checked_add(len)
        .and_then(|end| bytes.get(start..end))
        .ok_or_else(|| format!("truncated: {len} bytes at {offset} are past the end"))
}

fn u16_at(bytes: &[u8], offset: u64) -> Result<u16, String> {
    let s = slice(bytes, offset, 2)?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(bytes: &[u8], offset: u64) -> Result<u32, String> {
    let s = slice(bytes, offset, 4)?;
    Ok(u32::from_le_bytes(s.try_into().expect("4 bytes")))
}

fn u64_at(bytes: &[u8], offset: u64) -> Result<u64, String> {
    let s = slice(bytes, offset, 8)?;
    Ok(u64::from_le_bytes(s.try_into().expect("8 bytes")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal x86-64 ELF executable with the given segments (type, contents), laid out
    /// after the program header table. Enough for [`check_static`], not to run.
    pub(crate) fn fake_elf(segments: &[(u32, &[u8])]) -> Vec<u8> {
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2; // ELFCLASS64
        elf[5] = 1; // little-endian
        elf[6] = 1; // version
        elf[16..18].copy_from_slice(&ET_DYN.to_le_bytes());
        elf[18..20].copy_from_slice(&62u16.to_le_bytes());
        elf[32..40].copy_from_slice(&64u64.to_le_bytes());
        elf[54..56].copy_from_slice(&56u16.to_le_bytes());
        elf[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        let mut data_offset = 64 + 56 * segments.len() as u64;
        let mut data = Vec::new();
        for (p_type, contents) in segments {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&p_type.to_le_bytes());
            ph[8..16].copy_from_slice(&data_offset.to_le_bytes());
            ph[32..40].copy_from_slice(&(contents.len() as u64).to_le_bytes());
            elf.extend_from_slice(&ph);
            data.extend_from_slice(contents);
            data_offset += contents.len() as u64;
        }
        elf.extend_from_slice(&data);
        elf
    }

    fn dynamic(entries: &[(u64, u64)]) -> Vec<u8> {
        entries
            .iter()
            .flat_map(|(tag, value)| [tag.to_le_bytes(), value.to_le_bytes()].concat())
            .collect()
    }

    #[test]
    fn a_static_pie_with_a_dynamic_segment_but_no_needed_libraries_is_static() {
        const PT_LOAD: u32 = 1;
        let elf = fake_elf(&[
            (PT_LOAD, b"code"),
            (
                PT_DYNAMIC,
                &dynamic(&[(30, 8), (DT_NULL, 0), (DT_NEEDED, 9)]),
            ),
        ]);
        assert_eq!(check_static(&elf), Ok("amd64"));
    }

    #[test]
    fn an_interpreter_or_a_needed_library_makes_it_dynamic() {
        let elf = fake_elf(&[(PT_INTERP, b"/lib64/ld-linux-x86-64.so.2\0")]);
        let err = check_static(&elf).unwrap_err();
        assert!(err.contains("/lib64/ld-linux-x86-64.so.2"), "{err}");
        let elf = fake_elf(&[(PT_DYNAMIC, &dynamic(&[(DT_NEEDED, 1), (DT_NULL, 0)]))]);
        assert!(check_static(&elf).unwrap_err().contains("DT_NEEDED"));
    }

    #[test]
    fn this_test_binary_linked_against_glibc_is_not_static() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(check_static(&exe).is_err());
    }

    #[test]
    fn garbage_and_truncated_files_are_refused_without_panicking() {
        assert!(check_static(b"#!/bin/sh\n").is_err());
        let elf = fake_elf(&[(PT_INTERP, b"/lib/ld.so\0")]);
        for len in 0..elf.len() {
            assert!(check_static(&elf[..len]).is_err(), "{len}");
        }
        let mut elf32 = fake_elf(&[]);
        elf32[4] = 1;
        assert!(check_static(&elf32).is_err());
    }
}

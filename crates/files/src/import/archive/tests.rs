//! The zip end records as the zip library reads them.

use super::*;
use std::io::Write;

/// A zip of `n` entries (`0.md`…) whose directory is declared in a zip64 end record,
/// while the classic end record says 1 entry and defers with the offset `0xFFFFFFFF`.
fn zip64_of(n: usize) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..n {
        zip.start_file(format!("{i}.md"), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"x").unwrap();
    }
    let mut bytes = zip.finish().unwrap().into_inner();
    let end = bytes.len() - 22;
    let size = u64::from(u32::from_le_bytes(
        bytes[end + 12..end + 16].try_into().unwrap(),
    ));
    let offset = u64::from(u32::from_le_bytes(
        bytes[end + 16..end + 20].try_into().unwrap(),
    ));
    bytes.truncate(end);
    let record_at = bytes.len() as u64;
    bytes.extend_from_slice(b"PK\x06\x06");
    bytes.extend_from_slice(&44u64.to_le_bytes());
    bytes.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&(n as u64).to_le_bytes());
    bytes.extend_from_slice(&(n as u64).to_le_bytes());
    bytes.extend_from_slice(&size.to_le_bytes());
    bytes.extend_from_slice(&offset.to_le_bytes());
    bytes.extend_from_slice(b"PK\x06\x07");
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&record_at.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(b"PK\x05\x06\0\0\0\0\x01\0\x01\0");
    bytes.extend_from_slice(&(size as u32).to_le_bytes());
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes
}

fn temp_zip(bytes: &[u8]) -> std::path::PathBuf {
    let name = format!("mdz-import-{}.zip", uuid::Uuid::new_v4().simple());
    let path = std::env::temp_dir().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn declared(bytes: &[u8]) -> Result<u64, ImportError> {
    let path = temp_zip(bytes);
    let declared = declared_entries(&mut File::open(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    declared
}

#[test]
fn a_zip64_count_behind_a_deferring_offset_is_the_one_checked() {
    let bytes = zip64_of(11);
    assert_eq!(declared(&bytes).unwrap(), 11);
    // The zip library reads the same count.
    let path = temp_zip(&bytes);
    assert_eq!(
        ZipArchive::new(File::open(&path).unwrap()).unwrap().len(),
        11
    );
    assert!(matches!(
        open(&path, 10),
        Err(ImportError::TooManyEntries { limit: 10 })
    ));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_directory_that_does_not_end_at_its_record_is_refused() {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("a.md", zip::write::SimpleFileOptions::default())
        .unwrap();
    let mut bytes = zip.finish().unwrap().into_inner();
    assert_eq!(declared(&bytes).unwrap(), 1);
    // Junk between the directory and its end record.
    let end = bytes.len() - 22;
    bytes.splice(end..end, *b"junk");
    assert!(matches!(
        declared(&bytes),
        Err(ImportError::BadDirectory(_))
    ));
    // No end record at all.
    assert!(matches!(
        declared(b"PK\x03\x04 nothing"),
        Err(ImportError::BadDirectory(_))
    ));
}

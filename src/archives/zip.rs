//! A streaming ZIP64 writer for stored (uncompressed) entries: it produces the bytes of
//! local headers, data descriptors and the central directory while the caller streams
//! each entry's data through, so an archive of any size needs no seeking and no
//! temporary file. Every entry uses ZIP64 sizes and a data descriptor (the CRC is known
//! only after the data).

const LOCAL_HEADER: u32 = 0x0403_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const EOCD: u32 = 0x0605_4b50;
/// ZIP64 needs version 4.5.
const VERSION: u16 = 45;
/// Bit 3: sizes and CRC follow in a data descriptor; bit 11: names are UTF-8.
const FLAGS: u16 = (1 << 3) | (1 << 11);
/// 1980-01-01 00:00, the DOS epoch: entries carry no meaningful time.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;

struct Entry {
    name: String,
    crc: u32,
    size: u64,
    offset: u64,
}

#[derive(Default)]
pub struct ZipStream {
    offset: u64,
    entries: Vec<Entry>,
    open: Option<Entry>,
}

fn put16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}

impl ZipStream {
    pub fn new() -> ZipStream {
        ZipStream::default()
    }

    fn emit(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        self.offset += bytes.len() as u64;
        bytes
    }

    /// Starts an entry: returns its local header.
    pub fn begin(&mut self, name: &str) -> Vec<u8> {
        debug_assert!(self.open.is_none(), "previous entry not finished");
        self.open = Some(Entry {
            name: name.to_owned(),
            crc: 0,
            size: 0,
            offset: self.offset,
        });
        let mut b = Vec::with_capacity(30 + name.len() + 20);
        put32(&mut b, LOCAL_HEADER);
        put16(&mut b, VERSION);
        put16(&mut b, FLAGS);
        put16(&mut b, 0); // stored
        put16(&mut b, DOS_TIME);
        put16(&mut b, DOS_DATE);
        put32(&mut b, 0); // CRC: in the data descriptor
        put32(&mut b, u32::MAX); // sizes: in the ZIP64 extra field / descriptor
        put32(&mut b, u32::MAX);
        put16(&mut b, name.len() as u16);
        put16(&mut b, 20);
        b.extend_from_slice(name.as_bytes());
        put16(&mut b, 0x0001); // ZIP64 extra field
        put16(&mut b, 16);
        put64(&mut b, 0);
        put64(&mut b, 0);
        self.emit(b)
    }

    /// Counts `len` bytes of the open entry's data, which the caller writes itself.
    pub fn data(&mut self, len: u64) {
        self.offset += len;
    }

    /// Ends the open entry: returns its data descriptor.
    pub fn end(&mut self, crc: u32, size: u64) -> Vec<u8> {
        let mut entry = self.open.take().unwrap_or(Entry {
            name: String::new(),
            crc: 0,
            size: 0,
            offset: self.offset,
        });
        entry.crc = crc;
        entry.size = size;
        self.entries.push(entry);
        let mut b = Vec::with_capacity(24);
        put32(&mut b, DATA_DESCRIPTOR);
        put32(&mut b, crc);
        put64(&mut b, size);
        put64(&mut b, size);
        self.emit(b)
    }

    /// The central directory and the (ZIP64) end records.
    pub fn finish(mut self) -> Vec<u8> {
        let cd_start = self.offset;
        let mut b = Vec::new();
        for e in &self.entries {
            put32(&mut b, CENTRAL_HEADER);
            put16(&mut b, (3 << 8) | VERSION); // made by: Unix
            put16(&mut b, VERSION);
            put16(&mut b, FLAGS);
            put16(&mut b, 0);
            put16(&mut b, DOS_TIME);
            put16(&mut b, DOS_DATE);
            put32(&mut b, e.crc);
            put32(&mut b, u32::MAX);
            put32(&mut b, u32::MAX);
            put16(&mut b, e.name.len() as u16);
            put16(&mut b, 28);
            put16(&mut b, 0); // comment
            put16(&mut b, 0); // disk
            put16(&mut b, 0); // internal attributes
            put32(&mut b, 0o100644 << 16); // external: a regular file, rw-r--r--
            put32(&mut b, u32::MAX);
            b.extend_from_slice(e.name.as_bytes());
            put16(&mut b, 0x0001);
            put16(&mut b, 24);
            put64(&mut b, e.size);
            put64(&mut b, e.size);
            put64(&mut b, e.offset);
        }
        let cd_size = b.len() as u64;
        let eocd64_at = cd_start + cd_size;
        let n = self.entries.len() as u64;
        put32(&mut b, ZIP64_EOCD);
        put64(&mut b, 44);
        put16(&mut b, (3 << 8) | VERSION);
        put16(&mut b, VERSION);
        put32(&mut b, 0);
        put32(&mut b, 0);
        put64(&mut b, n);
        put64(&mut b, n);
        put64(&mut b, cd_size);
        put64(&mut b, cd_start);
        put32(&mut b, ZIP64_LOCATOR);
        put32(&mut b, 0);
        put64(&mut b, eocd64_at);
        put32(&mut b, 1);
        put32(&mut b, EOCD);
        put16(&mut b, 0);
        put16(&mut b, 0);
        put16(&mut b, u16::MAX);
        put16(&mut b, u16::MAX);
        put32(&mut b, u32::MAX);
        put32(&mut b, u32::MAX);
        put16(&mut b, 0);
        self.emit(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn build(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = ZipStream::new();
        let mut out = Vec::new();
        for (name, data) in files {
            out.extend(zip.begin(name));
            out.extend_from_slice(data);
            zip.data(data.len() as u64);
            out.extend(zip.end(crc32fast::hash(data), data.len() as u64));
        }
        out.extend(zip.finish());
        out
    }

    #[test]
    fn the_zip_crate_reads_what_we_write() {
        let files: [(&str, &[u8]); 3] = [
            ("a.txt", b"alpha"),
            ("dir/b.bin", &[0u8, 1, 2, 255]),
            ("empty", b""),
        ];
        let bytes = build(&files);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("valid zip");
        assert_eq!(archive.len(), 3);
        for (name, data) in files {
            let mut entry = archive.by_name(name).expect("entry");
            let mut got = Vec::new();
            entry.read_to_end(&mut got).expect("read");
            assert_eq!(got, data, "{name}");
        }
    }

    #[test]
    fn an_empty_archive_is_valid() {
        let archive = zip::ZipArchive::new(std::io::Cursor::new(build(&[]))).expect("valid zip");
        assert_eq!(archive.len(), 0);
    }
}

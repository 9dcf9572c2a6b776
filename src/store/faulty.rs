//! A file backend whose writes fail while a switch is on: a full disk, on
//! demand, for tests of what the webhook does when a commit fails. It takes
//! no file locks, so a database over it is opened in redb's default
//! (exclusive, one process) mode.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::StorageBackend;

#[derive(Debug)]
pub struct Disk {
    file: File,
    failing: Arc<AtomicBool>,
}

impl Disk {
    pub fn new(file: File, failing: Arc<AtomicBool>) -> Self {
        Self { file, failing }
    }

    fn check(&self) -> io::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(io::Error::other("no space left on device (simulated)"));
        }
        Ok(())
    }
}

impl StorageBackend for Disk {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(out, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check()?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.check()?;
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check()?;
        self.file.write_all_at(data, offset)
    }
}

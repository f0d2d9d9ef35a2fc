//! An exporter that appends JSON lines to a file.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::data::SpanData;
use crate::export::{console, ExportError, Exporter};

/// Appends one JSON object per span per line to a file, in the console exporter's JSON form.
///
/// # Examples
///
/// ```
/// let path = std::env::temp_dir().join(format!("threadline-doc-{}.jsonl", std::process::id()));
/// let exporter = threadline::FileExporter::new(&path).unwrap();
/// let tracer = threadline::Tracer::builder().simple_exporter(exporter).build();
/// drop(tracer.span("saved"));
/// tracer.flush(std::time::Duration::from_secs(5)).unwrap();
/// let text = std::fs::read_to_string(&path).unwrap();
/// assert!(text.contains("\"name\":\"saved\""));
/// # std::fs::remove_file(&path).ok();
/// ```
#[derive(Debug)]
pub struct FileExporter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl FileExporter {
    /// Opens `path` for appending, creating it if needed.
    ///
    /// # Errors
    ///
    /// The I/O error from opening the file.
    pub fn new(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(FileExporter {
            path,
            out: BufWriter::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Exporter for FileExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        let mut line = String::with_capacity(512);
        for span in batch {
            line.clear();
            console::write_json(&mut line, span);
            line.push('\n');
            self.out.write_all(line.as_bytes())?;
        }
        self.out.flush()?;
        Ok(())
    }

    fn force_flush(&mut self) -> Result<(), ExportError> {
        self.out.flush()?;
        Ok(())
    }
}

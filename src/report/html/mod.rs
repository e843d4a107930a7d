//! `scx_gamer report GAME --html FILE` and `report --log FILE... --html
//! FILE`: the report as one self-contained HTML page (inline CSS and SVG,
//! no URL) with charts a player would rather look at than read.
//!
//! `store_page`/`logs_page` assemble; `tables` and `charts` (plotters SVG)
//! draw; `curves` and `downsample` compute what is drawn (pure, tested);
//! `page` is the document and its theme; `data` gets frames out of a store.

pub mod charts;
pub mod curves;
pub mod data;
pub mod downsample;
pub mod logs_page;
pub mod page;
pub mod store_page;
pub mod tables;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::store::{GameStore, find_store};

fn write_file(out: &Path, html: &str) -> Result<()> {
    fs::write(out, html).with_context(|| format!("writing the HTML report {}", out.display()))
}

/// The report of `game`'s store under `data_dir`, written to `out`.
pub fn write_game(data_dir: &Path, game: &str, out: &Path) -> Result<()> {
    let path = find_store(data_dir, game)?;
    let store = GameStore::load(&path)?;
    write_file(out, &store_page::render(&store, &path)?)
}

/// The report of MangoHud logs, written to `out`. Logs that cannot be read
/// are listed in the page and on stderr, and make the result an error
/// (as `report --log` does), after the page is written.
pub fn write_logs(files: &[PathBuf], out: &Path) -> Result<()> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for path in files {
        match logs_page::read(path) {
            Ok(l) => good.push(l),
            Err(e) => bad.push(format!("{e:#}")),
        }
    }
    write_file(out, &logs_page::render(&good, &bad)?)?;
    if bad.is_empty() {
        return Ok(());
    }
    for b in &bad {
        eprintln!("scx_gamer: bad log: {b}");
    }
    bail!("{} of {} logs could not be read (the others are reported in {})", bad.len(), files.len(), out.display())
}

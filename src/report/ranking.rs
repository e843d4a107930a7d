//! `scx_gamer report [GAME] [--json|--csv]` and `report --best GAME`: a
//! game's store, ranked, in the format asked for.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};

use crate::sched::SchedConfig;
use crate::store::{GameStore, find_store, list_stores};
use crate::verdict::rank::{Ranking, rank};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Csv,
}

/// Report `game`, or every game in `data_dir` when None.
pub fn run(data_dir: &Path, game: Option<&str>, format: Format) -> Result<()> {
    let paths = match game {
        Some(g) => vec![find_store(data_dir, g)?],
        None => list_stores(data_dir)?,
    };
    if paths.is_empty() {
        bail!("no tuning data in {} yet (run `scx_gamer tune -- mangohud ./game`)", data_dir.display());
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (i, path) in paths.iter().enumerate() {
        let store = GameStore::load(path)?;
        match format {
            Format::Csv => super::csv::write(&mut out, &store)?,
            Format::Json => writeln!(out, "{}", serde_json::to_string(&rank(&store)?)?)?,
            Format::Text => {
                if i > 0 {
                    writeln!(out)?;
                }
                write_text(&mut out, &store, &rank(&store)?)?;
            }
        }
    }
    Ok(())
}

/// `ranking` of `store` as the text report.
pub fn write_text(out: &mut impl Write, store: &GameStore, ranking: &Ranking) -> Result<()> {
    let style = super::text::Style::for_stdout(store, ranking)?;
    super::text::write_styled(out, ranking, &style)
}

/// `report --best GAME`: the best config as flags on stdout; whether it is
/// a significant win goes to stderr, so `$(scx_gamer report --best g)` works.
pub fn best(data_dir: &Path, game: &str) -> Result<()> {
    let ranking = rank(&GameStore::load(&find_store(data_dir, game)?)?)?;
    match ranking.best() {
        Some((row, significant)) => {
            let config = row.config.unwrap_or_default();
            if let Some(name) = &ranking.passed_over {
                let pick = if row.config == Some(SchedConfig::default()) { "the defaults".to_string() } else { format!("'{}'", row.name) };
                eprintln!("note: '{name}' ranked higher, but it does not beat the default config beyond the noise: {pick}");
            }
            if !significant {
                eprintln!("note: '{}' is the best measured config, but it does not beat the kernel's scheduler beyond the noise", row.name);
            }
            println!("{}", config.as_flags());
            Ok(())
        }
        None => bail!("no config has been measured successfully for '{game}' yet"),
    }
}

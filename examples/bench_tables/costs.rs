//! What each run's measured span cost (bench/compare-guest.sh's costs.tsv):
//! per workload × load × scheduler, the medians over the repetitions of the
//! game threads' waits for a CPU and moves between CPUs, the scheduler
//! process's own CPU and the guest's idle share. Pure: lines in, rows out.

use scx_gamer::verdict::score::median;

/// The columns summarised, as costs.tsv names them, and how the table
/// heads them.
pub const COLUMNS: [(&str, &str); 5] = [
    ("game_wait_ms_s", "game threads waiting for a CPU, ms/s"),
    ("game_migrations_s", "game thread migrations /s"),
    ("game_cpu_ms_s", "game threads on a CPU, ms/s"),
    ("sched_cpu_ms_s", "scheduler process CPU, ms/s"),
    ("guest_idle_pct", "guest idle, %"),
];

/// workload, load, scheduler.
type Key = (String, String, String);

/// One workload × load × scheduler: medians of COLUMNS over its runs.
#[derive(Clone, Debug, PartialEq)]
pub struct CostRow {
    pub workload: String,
    pub load: String,
    pub scheduler: String,
    pub runs: usize,
    pub medians: [f64; COLUMNS.len()],
}

/// costs.tsv's text (a header line naming the columns, then a line per
/// run) summarised, rows in the order first seen. Err names the line.
pub fn summarise(text: &str) -> Result<Vec<CostRow>, String> {
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = lines.next().map(|(_, h)| h.split('\t').collect()).ok_or("costs.tsv is empty")?;
    let at = |name: &str| header.iter().position(|h| *h == name).ok_or(format!("costs.tsv has no column {name}"));
    let keys = [at("workload")?, at("load")?, at("scheduler")?];
    let cols = COLUMNS.map(|(name, _)| at(name));
    let cols: Vec<usize> = cols.into_iter().collect::<Result<_, _>>()?;
    // (each key's runs, each run's COLUMNS)
    let mut groups: Vec<(Key, Vec<Vec<f64>>)> = Vec::new();
    for (i, line) in lines {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != header.len() {
            return Err(format!("costs.tsv:{}: {} fields, the header has {}", i + 1, f.len(), header.len()));
        }
        let key = (f[keys[0]].to_string(), f[keys[1]].to_string(), f[keys[2]].to_string());
        let values = cols
            .iter()
            .map(|&c| f[c].parse::<f64>().map_err(|_| format!("costs.tsv:{}: {:?} is not a number", i + 1, f[c])))
            .collect::<Result<Vec<f64>, String>>()?;
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, runs)) => runs.push(values),
            None => groups.push((key, vec![values])),
        }
    }
    Ok(groups
        .into_iter()
        .map(|((workload, load, scheduler), runs)| CostRow {
            workload,
            load,
            scheduler,
            runs: runs.len(),
            medians: std::array::from_fn(|c| median(&runs.iter().map(|r| r[c]).collect::<Vec<_>>())),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "rep\tworkload\tload\tscheduler\tgame_cpu_ms_s\tgame_wait_ms_s\tgame_slices_s\tsched_cpu_ms_s\tguest_idle_pct\tctxt_s\tgame_migrations_s";

    #[test]
    fn medians_per_scheduler_in_each_cell() {
        let text = format!(
            "{HEAD}\n1\tfl\tidle\teevdf\t2000\t40\t300\t0\t40\t600\t20\n1\tfl\tidle\tgamer\t2400\t680\t290\t70\t36\t600\t80\n\
             2\tfl\tidle\teevdf\t2100\t20\t300\t0\t42\t600\t30\n2\tfl\tidle\tgamer\t2500\t650\t290\t72\t35\t600\t90\n\
             3\tfl\tidle\teevdf\t2200\t60\t300\t0\t44\t600\t25\n"
        );
        let rows = summarise(&text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].scheduler.as_str(), rows[0].runs), ("eevdf", 3));
        // wait, migrations, game CPU, scheduler CPU, idle
        assert_eq!(rows[0].medians, [40.0, 25.0, 2100.0, 0.0, 42.0]);
        assert_eq!(rows[1].medians, [665.0, 85.0, 2450.0, 71.0, 35.5]);
    }

    #[test]
    fn a_bad_line_or_a_missing_column_is_named() {
        assert!(summarise(&format!("{HEAD}\n1\tfl\tidle\teevdf\t2000\n")).unwrap_err().contains("costs.tsv:2: 5 fields"));
        let bad = format!("{HEAD}\n1\tfl\tidle\teevdf\tx\t40\t300\t0\t40\t600\t20\n");
        assert!(summarise(&bad).unwrap_err().contains("\"x\" is not a number"));
        assert!(summarise("rep\tworkload\n").unwrap_err().contains("no column load"));
    }
}

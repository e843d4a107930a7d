//! One JSON object per line, each way. Requests carry only a pid and knob
//! values — never a path, a command or BPF — and are bounded in size.
//!
//! ```text
//! → {"apply":{"pid":1234,"config":{"slice_us":500}}}
//! ← {"ok":"applied slice_us=500,input_window_us=5000,…"}
//! → "revert"            ← {"ok":"reverted to the kernel's scheduler"}
//! → "status"            ← {"ok":"idle"}  (or "busy"; the game's user: whose game, which config)
//! → "stats"             ← {"stats":{"nr_running":3,…}}   (the owner only)
//! ← {"error":"pid 1234 belongs to uid 1001, not to you (uid 1000)"}
//! ```

use serde::{Deserialize, Serialize};

use crate::sched::{Metrics, SchedConfig};

/// Longest request line accepted, bytes (a full config is ~150).
pub const MAX_REQUEST: usize = 4096;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Attach `config` with `pid`'s process tree as the game, until the
    /// game exits, this connection closes, or `revert`.
    Apply {
        pid: u32,
        config: SchedConfig,
    },
    /// Back to the kernel's scheduler.
    Revert,
    Status,
    /// The counters of the config applied for this connection (what
    /// `launch --tune` records with each trial).
    Stats,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Ok(String),
    Error(String),
    Stats(Metrics),
}

/// Parse one request line; the error says what is wrong with it.
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    if line.len() > MAX_REQUEST {
        return Err(format!("request too large: {} bytes (at most {MAX_REQUEST})", line.len()));
    }
    let text = std::str::from_utf8(line).map_err(|_| "request is not UTF-8".to_string())?;
    let req: Request = serde_json::from_str(text.trim()).map_err(|e| format!("malformed request: {e}"))?;
    if let Request::Apply { config, .. } = &req {
        config.validate().map_err(|e| format!("invalid config: {e}"))?;
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        let r = parse_request(br#"{"apply":{"pid":42,"config":{"slice_us":500}}}"#).unwrap();
        let Request::Apply { pid, config } = &r else { panic!("{r:?}") };
        assert_eq!((*pid, config.slice_us, config.mig_max), (42, 500, SchedConfig::default().mig_max));
        assert_eq!(parse_request(serde_json::to_string(&r).unwrap().as_bytes()).unwrap(), r);
        assert_eq!(parse_request(b"\"revert\"\n").unwrap(), Request::Revert);
        assert_eq!(parse_request(b"\"stats\"").unwrap(), Request::Stats);
        assert_eq!(serde_json::to_string(&Response::Error("x".into())).unwrap(), r#"{"error":"x"}"#);
    }

    #[test]
    fn refuses_anything_but_a_pid_and_knobs() {
        let err = |s: &[u8]| parse_request(s).unwrap_err();
        assert!(err(br#"{"apply":{"pid":42,"config":{"slice_us":0}}}"#).contains("invalid config: slice_us = 0 is out of range"));
        assert!(err(br#"{"apply":{"pid":42,"config":{"bpf":"..."}}}"#).contains("unknown field `bpf`"));
        assert!(err(br#"{"apply":{"pid":42,"config":{},"path":"/bin/sh"}}"#).contains("unknown field `path`"));
        assert!(err(br#"{"apply":{"pid":-1,"config":{}}}"#).contains("malformed"));
        assert!(err(br#"{"exec":"/bin/sh"}"#).contains("malformed"));
        assert!(err(b"\xff\xfe").contains("not UTF-8"));
        assert!(err(&vec![b' '; MAX_REQUEST + 1]).contains("too large"));
        assert!(err(b"").contains("malformed"));
        // stats takes no argument: nothing can be smuggled in with it.
        assert!(err(br#"{"stats":{"pid":1}}"#).contains("malformed"));
    }

    #[test]
    fn stats_answers_carry_the_counters() {
        let m = Metrics { game_dispatches: 7, migrations: 3, ..Default::default() };
        let line = serde_json::to_string(&Response::Stats(m.clone())).unwrap();
        assert!(line.starts_with(r#"{"stats":{"#) && line.contains(r#""game_dispatches":7"#), "{line}");
        assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), Response::Stats(m));
    }
}

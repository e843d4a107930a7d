//! Thousands of mutated and truncated MangoHud logs, fed in random chunks:
//! the parser never panics, and whatever frames it accepts obey the rule
//! (0 < frame time ≤ 10 s). Deterministic (fixed seed), so a failure repeats.

use scx_gamer::frames::FrameSeries;
use scx_gamer::frames::MAX_FRAME_NS;
use scx_gamer::mangohud::log::LogParser;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

const JUNK: [&[u8]; 8] = [b",", b"\n", b"-1", b"nan", b"1e309", b"\xff\xfe", b"os,cpu,gpu\n", b"fps,frametime,elapsed\n"];

fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(6) {
        let len = bytes.len();
        let at = rng.below(len + 1);
        match rng.below(6) {
            0 if len > 0 => bytes[at.min(len - 1)] = rng.next() as u8,
            1 => {
                let end = (at + rng.below(64)).min(len);
                bytes.drain(at..end);
            }
            2 => {
                let junk = JUNK[rng.below(JUNK.len())];
                bytes.splice(at..at, junk.iter().copied());
            }
            3 => bytes.truncate(at),
            4 if len > 0 => {
                let start = rng.below(len);
                let end = (start + rng.below(200)).min(len);
                let chunk = bytes[start..end].to_vec();
                bytes.splice(at..at, chunk);
            }
            _ => {
                let digit = b'0' + (rng.next() % 10) as u8;
                bytes.insert(at, digit);
            }
        }
    }
    bytes
}

#[test]
fn mutated_logs_never_panic_and_accepted_frames_obey_the_rule() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mangohud");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
    seeds.push(b"v1\nv0.8.2\nfps,frametime,cpu_load,elapsed\n60,16.6,1,0\n60,16.667,1,16667000\n120,8.333,1,25000000\n".to_vec());
    seeds.push(b"fps,cpu,gpu,elapsed\n10,1,1,0\n50,1,1,20000\n".to_vec());
    // A build from git names itself as `git describe` does.
    seeds.push(b"v1\nv0.8.1-45-gabcdef0+\nos,cpu\nArch,x\nfps,frametime,elapsed\n60,16.6,0\n60,16.667,16667000\n".to_vec());
    seeds.sort();

    let mut rng = Rng(0x2545F4914F6CDD1D);
    let (mut accepted_files, mut rejected_files, mut frames_seen) = (0, 0, 0u64);
    for _ in 0..5000 {
        let seed = seeds[rng.below(seeds.len())].clone();
        let bytes = mutate(&mut rng, seed);
        let mut p = LogParser::new();
        let mut frames = Vec::new();
        let mut result = Ok(());
        let mut rest = bytes.as_slice();
        while !rest.is_empty() && result.is_ok() {
            let n = 1 + rng.below(300).min(rest.len() - 1);
            result = p.feed(&rest[..n], &mut frames);
            rest = &rest[n..];
        }
        let result = result.and_then(|_| p.finish(&mut frames));
        match result {
            Ok(()) => accepted_files += 1,
            Err(e) => {
                rejected_files += 1;
                assert!(!e.to_string().is_empty());
            }
        }
        let mut series = FrameSeries::default();
        for f in &frames {
            assert!(f.frametime_ns > 0 && f.frametime_ns <= MAX_FRAME_NS, "{f:?}");
            series.push(f.frametime_ns);
        }
        let st = series.stats();
        assert!(st.p50_ms <= st.p99_ms && st.p99_ms <= st.max_ms + 1e-9, "{st:?}");
        frames_seen += frames.len() as u64;
    }
    // The mutations must exercise both outcomes, or this test proves little.
    assert!(accepted_files > 500 && rejected_files > 100, "{accepted_files} accepted, {rejected_files} rejected");
    assert!(frames_seen > 10_000, "{frames_seen}");
}

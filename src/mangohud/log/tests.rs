use super::*;

const V068: &str = "v1\nv0.6.8\n---------------------SYSTEM INFO---------------------\n\
    os,cpu,gpu,ram,kernel,driver,cpuscheduler\nDebian,AMD EPYC,,24684092,6.18.44,4.5 Mesa,\n\
    --------------------FRAME METRICS--------------------\n\
    fps,frametime,cpu_load,gpu_load,cpu_temp,gpu_temp,gpu_core_clock,gpu_mem_clock,gpu_vram_used,gpu_power,ram_used,elapsed\n\
    0.000114,8765056874,100,0,0,0,0,0,0,0,0.4,114815461\n\
    200,5000,50,0,0,0,0,0,0,0,0.4,119815461\n\
    100,10000,50,0,0,0,0,0,0,0,0.4,129815461\n";

fn parse(text: &[u8]) -> (Vec<Frame>, LogParser) {
    let mut p = LogParser::new();
    let mut out = Vec::new();
    p.feed(text, &mut out).unwrap();
    p.finish(&mut out).unwrap();
    (out, p)
}

#[test]
fn versioned_068_log_in_micros_drops_the_first_row() {
    let (frames, p) = parse(V068.as_bytes());
    assert_eq!(frames.iter().map(|f| f.frametime_ns).collect::<Vec<_>>(), vec![5_000_000, 10_000_000]);
    assert_eq!(frames[0].elapsed_ns, Some(119815461));
    let m = p.meta();
    assert_eq!(m.mangohud_version.as_deref(), Some("0.6.8"));
    assert_eq!(m.log_format, Some(1));
    assert_eq!(m.cpu.as_deref(), Some("AMD EPYC"));
    assert_eq!(m.gpu, None);
    assert_eq!(m.kernel.as_deref(), Some("6.18.44"));
    assert_eq!(m.frametime_source, Some(FrametimeSource::Micros));
    assert_eq!(p.dropped_first_rows(), 1);
    assert_eq!(p.bad_rows().count, 0);
    assert_eq!(m.sampled, Some(false));
}

#[test]
fn newer_logs_are_float_millis_by_version_or_by_fps() {
    let body = "fps,frametime,cpu_load,elapsed\n60,16.6,1,0\n60,16.667,1,16667000\n120,8.333,1,25000000\n";
    let (frames, p) = parse(format!("v1\nv0.8.2\n{body}").as_bytes());
    assert_eq!(frames.iter().map(|f| f.frametime_ns).collect::<Vec<_>>(), vec![16_667_000, 8_333_000]);
    assert_eq!(p.meta().frametime_source, Some(FrametimeSource::Millis));
    // No version line: fps × frametime ≈ 1000 says ms.
    let (frames, p) = parse(body.as_bytes());
    assert_eq!(frames[0].frametime_ns, 16_667_000);
    assert_eq!(p.meta().mangohud_version, None);
    assert_eq!(p.meta().frametime_source, Some(FrametimeSource::Millis));
}

#[test]
fn old_logs_without_frametime_derive_it_from_fps() {
    let (frames, p) = parse(b"fps,cpu,gpu,elapsed\n10,1,1,0\n50,1,1,20000\n100,1,1,30000\n");
    assert_eq!(frames.iter().map(|f| f.frametime_ns).collect::<Vec<_>>(), vec![20_000_000, 10_000_000]);
    assert_eq!(frames[1].elapsed_ns, Some(30_000_000)); // µs → ns
    assert_eq!(p.meta().frametime_source, Some(FrametimeSource::DerivedFromFps));
}

#[test]
fn partial_lines_wait_for_the_rest() {
    let mut p = LogParser::new();
    let mut out = Vec::new();
    for chunk in V068.as_bytes().chunks(7) {
        p.feed(chunk, &mut out).unwrap();
    }
    p.finish(&mut out).unwrap();
    assert_eq!(out.len(), 2);
    // A row cut mid-way is not emitted until its newline arrives.
    let mut p = LogParser::new();
    let mut out = Vec::new();
    p.feed(b"fps,frametime,elapsed\n1,1000000,0\n100,100", &mut out).unwrap();
    assert!(out.is_empty());
    p.feed(b"00,10000000\n", &mut out).unwrap();
    assert_eq!(out, vec![Frame { frametime_ns: 10_000_000, elapsed_ns: Some(10_000_000) }]);
}

#[test]
fn a_second_preamble_starts_a_new_log_in_the_same_file() {
    let text = format!("{V068}{V068}");
    let (frames, p) = parse(text.as_bytes());
    assert_eq!(frames.len(), 4);
    assert_eq!(p.meta().segments, 2);
    assert_eq!(p.dropped_first_rows(), 2);
    // The second log's banners (log_versioning) are preamble, not bad rows.
    assert_eq!(p.bad_rows().count, 0, "{:?}", p.bad_rows());
}

#[test]
fn bad_rows_are_skipped_and_counted() {
    let text = "fps,frametime,elapsed\n100,10000,0\n100,10000,1\nabc,10000,2\n100,-5,3\n100,20000000,4\n100,10000\n100,nan,5\n100,0,6\n100,10000,7\n";
    let (frames, p) = parse(text.as_bytes());
    assert_eq!(frames.len(), 2);
    assert_eq!(p.bad_rows().count, 6);
    let ex = &p.bad_rows().examples;
    assert_eq!(ex[0], (4, "fps 'abc' is not a number".to_string()));
    assert!(ex[1].1.contains("out of range"), "{ex:?}");
    assert!(ex[3].1.contains("2 fields, header has 3"), "{ex:?}");
}

#[test]
fn unusable_files_are_errors_with_a_line() {
    let err = |t: &[u8]| {
        let mut p = LogParser::new();
        let mut out = Vec::new();
        p.feed(t, &mut out).and_then(|_| p.finish(&mut out)).unwrap_err().to_string()
    };
    assert_eq!(err(b""), "empty file");
    assert!(err(b"\x7fELF\x02\x01\x01\0\0\n").starts_with("line 1: not a MangoHud log"));
    assert!(err(b"hello,world\n1,2\n").contains("line 1: not a MangoHud log: expected a header"));
    assert_eq!(err(b"gpu_load,cpu_load,elapsed,frametimes\n"), "line 1: column header has neither fps nor frametime");
    assert!(err(b"os,cpu\nx,y\n").contains("no column header"));
}

#[test]
fn junk_after_the_header_is_bad_rows_not_a_panic() {
    let mut text = b"fps,frametime,elapsed\n100,10000,0\n".to_vec();
    text.extend_from_slice(&[0xff, 0xfe, b',', 0, b'\n']);
    text.extend(std::iter::repeat_n(b'x', 70_000));
    text.extend_from_slice(b"\n100,10000,5\n");
    let (frames, p) = parse(&text);
    assert_eq!(frames.len(), 1);
    assert_eq!(p.bad_rows().count, 2);
}

#[test]
fn an_endless_line_fed_in_chunks_is_one_bad_row() {
    let mut p = LogParser::new();
    let mut out = Vec::new();
    p.feed(b"fps,frametime,elapsed\n100,10000,0\n", &mut out).unwrap();
    for _ in 0..50 {
        p.feed(&[b'7'; 10_000], &mut out).unwrap();
    }
    p.feed(b"\n100,10000,5\n", &mut out).unwrap();
    p.finish(&mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(p.bad_rows().count, 1);
    assert_eq!(p.line_no, 4);
}

#[test]
fn git_dirty_and_rc_builds_have_a_version_line() {
    // MangoHud's version is `git describe --tags --dirty=+` of the build.
    let body = "---------------------SYSTEM INFO---------------------\n\
        os,cpu,gpu,ram,kernel,driver,cpuscheduler\nArch,Ryzen,,1,6.18,,\n\
        --------------------FRAME METRICS--------------------\n\
        fps,frametime,cpu_load,elapsed\n60,16.6,1,0\n60,16.667,1,16667000\n120,8.333,1,25000000\n";
    for version in ["0.8.1-45-gabcdef0", "0.8.4+", "0.7.2-rc1", "0.8.1-45-gabcdef0+"] {
        let (frames, p) = parse(format!("v1\nv{version}\n{body}").as_bytes());
        assert_eq!(frames.iter().map(|f| f.frametime_ns).collect::<Vec<_>>(), vec![16_667_000, 8_333_000], "{version}");
        assert_eq!(p.meta().mangohud_version.as_deref(), Some(version));
        assert_eq!(p.meta().log_format, Some(1));
        assert_eq!(p.meta().frametime_source, Some(FrametimeSource::Millis), "{version}");
        assert_eq!(p.meta().cpu.as_deref(), Some("Ryzen"));
        // The same as a second log in a shared file.
        let (frames, p) = parse(format!("v1\nv0.8.4\n{body}v1\nv{version}\n{body}").as_bytes());
        assert_eq!(frames.len(), 4, "{version}");
        assert_eq!(p.meta().segments, 2, "{version}");
        assert_eq!(p.meta().mangohud_version.as_deref(), Some(version));
    }
}

#[test]
fn a_git_build_between_0_6_8_and_0_6_9_is_read_in_the_unit_its_rows_show() {
    // The switch from µs to ms came between the two releases: a build from
    // git in between may write either, so fps × frametime decides.
    let ms = "fps,frametime,elapsed\n60,16.6,0\n60,16.667,16667000\n";
    let (frames, p) = parse(format!("v1\nv0.6.8-30-g25b170d\n{ms}").as_bytes());
    assert_eq!(frames[0].frametime_ns, 16_667_000);
    assert_eq!(p.meta().frametime_source, Some(FrametimeSource::Millis));
    let us = "fps,frametime,elapsed\n60,16600,0\n60,16667,16667000\n";
    let (frames, p) = parse(format!("v1\nv0.6.8-3-g1234abc\n{us}").as_bytes());
    assert_eq!(frames[0].frametime_ns, 16_667_000);
    assert_eq!(p.meta().frametime_source, Some(FrametimeSource::Micros));
    // A released 0.6.8 says µs whatever the rows look like.
    let (_, p) = parse(format!("v1\nv0.6.8\n{ms}").as_bytes());
    assert_eq!(p.meta().frametime_source, Some(FrametimeSource::Micros));
}

#[test]
fn a_version_like_os_name_is_system_info_and_a_v_row_is_a_bad_row() {
    let (_, p) = parse(b"os,cpu\nv2OS,x\nfps,frametime,elapsed\n60,16.6,0\n60,16.667,16667000\n");
    assert_eq!(p.meta().os.as_deref(), Some("v2OS"));
    assert_eq!(p.meta().mangohud_version, None);
    let (frames, p) = parse(b"fps,frametime,elapsed\n60,16.6,0\nv60,16.667,16667000\n60,16.667,33334000\n");
    assert_eq!((frames.len(), p.bad_rows().count), (1, 1));
}

#[test]
fn version_comparison() {
    assert!(version_at_least("0.6.9", (0, 6, 9)));
    assert!(version_at_least("0.8.1-1", (0, 6, 9)));
    assert!(!version_at_least("0.6.8", (0, 6, 9)));
    assert!(version_at_least("1.0", (0, 6, 9)));
}

// --- The fast path against the general one -------------------------

/// Deterministic "random" numbers.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        crate::testing::xorshift(&mut self.0)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Everything a parser makes of `text` fed in chunks of the given
/// sizes (cycled), as one comparable string, plus the frames.
fn outcome(text: &[u8], fast: bool, sizes: &[usize]) -> (Vec<Frame>, String) {
    let mut p = LogParser::new();
    p.fast = fast;
    let mut out = Vec::new();
    let mut rest = text;
    let mut result = Ok(());
    for &n in sizes.iter().cycle() {
        if rest.is_empty() || result.is_err() {
            break;
        }
        let n = n.clamp(1, rest.len());
        result = p.feed(&rest[..n], &mut out);
        rest = &rest[n..];
    }
    let result = result.and_then(|_| p.finish(&mut out)).map_err(|e| e.to_string());
    let summary = format!(
        "{result:?} line {} dropped {} bad {:?} meta {:?} probe {:?} last {:?}",
        p.line_no, p.dropped_first_rows, p.bad, p.meta, p.probe, p.last_elapsed
    );
    (out, summary)
}

fn assert_same_as_general_path(text: &[u8], rng: &mut Rng) {
    let (want_frames, want) = outcome(text, false, &[text.len().max(1)]);
    let sizes: Vec<usize> = match rng.below(3) {
        0 => vec![text.len().max(1)],
        1 => (0..8).map(|_| 1 + rng.below(300)).collect(),
        _ => (0..8).map(|_| 1 + rng.below(5000)).collect(),
    };
    let (frames, got) = outcome(text, true, &sizes);
    assert_eq!(got, want, "{}", String::from_utf8_lossy(&text[..text.len().min(2000)]));
    assert_eq!(frames, want_frames);
}

/// Logs of every form the parser knows, with a mix of plain rows and
/// rows that are not (so both paths and the hand-over between them run).
fn synthetic_log(rng: &mut Rng) -> Vec<u8> {
    let mut text = String::new();
    let version = *rng.pick(&["", "v1\nv0.8.2\n", "v1\nv0.6.8\n", "v0.7.0\n", "v1\nv0.8.1-45-gabcdef0+\n", "v1\nv0.6.8-3-g1234abc\n"]);
    text.push_str(version);
    if rng.below(2) == 0 {
        text.push_str("os,cpu,gpu,ram,kernel,driver,cpuscheduler\nDebian,EPYC,,1,6.1,,\n");
    }
    // Columns: the wanted ones among others, in several orders and widths.
    let extra = *rng.pick(&[0usize, 1, 3, 13, 40]);
    let mut cols: Vec<String> = (0..extra).map(|i| format!("c{i}")).collect();
    for name in ["fps", "frametime", "elapsed"] {
        if rng.below(8) != 0 {
            let at = match rng.below(4) {
                0 => 0,
                1 => cols.len(),
                _ => rng.below(cols.len() + 1),
            };
            cols.insert(at, name.to_string());
        }
    }
    if !cols.iter().any(|c| c == "fps" || c == "frametime") {
        cols.insert(0, "fps".into());
    }
    let crlf = rng.below(10) == 0;
    let eol = if crlf { "\r\n" } else { "\n" };
    text.push_str(&cols.join(","));
    text.push_str(eol);
    let millis = rng.below(2) == 0;
    let mut elapsed: u64 = rng.next() % 1_000_000_000_000;
    for _ in 0..rng.below(400) {
        let ft_ms = 1.0 + (rng.next() % 40_000) as f64 / 1000.0;
        elapsed += (ft_ms * 1e6) as u64;
        let fields: Vec<String> = cols
            .iter()
            .map(|c| match c.as_str() {
                "fps" => match rng.below(4) {
                    0 => format!("{:.4}", 1000.0 / ft_ms),
                    1 => format!("{:.0}", 1000.0 / ft_ms),
                    2 => format!("{:.9}", 1000.0 / ft_ms),
                    _ => format!("{}", 1000.0 / ft_ms),
                },
                "frametime" if millis => match rng.below(4) {
                    0 => format!("{ft_ms:.3}"),
                    1 => format!("{ft_ms:.6}"),
                    2 => format!("{ft_ms:.7}"),
                    _ => format!("{ft_ms}"),
                },
                "frametime" => format!("{}", (ft_ms * 1000.0) as u64),
                "elapsed" => format!("{elapsed}"),
                _ => format!("{}", rng.below(100_000)),
            })
            .collect();
        text.push_str(&fields.join(","));
        text.push_str(eol);
    }
    text.into_bytes()
}

/// Replace, insert or delete a few bytes, favouring the ones that make
/// numbers not plain (signs, exponents, spaces, dots, long digit runs…).
fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    const JUNK: [&[u8]; 22] = [
        b",",
        b"\n",
        b"\r",
        b".",
        b"-",
        b"+",
        b"e",
        b"E3",
        b" ",
        b"\t",
        b"\xc2\xa0",
        b"nan",
        b"inf",
        b"1e309",
        b"0000000000",
        b"12345678901234567890",
        b"\xff",
        b"0",
        b"9",
        b"..",
        b"os,cpu\n",
        b"fps,frametime,elapsed\n",
    ];
    for _ in 0..1 + rng.below(4) {
        let len = bytes.len();
        let at = rng.below(len + 1);
        match rng.below(4) {
            0 if len > 0 => bytes[at.min(len - 1)] = *rng.pick(b"0123456789.,-+eE \r\n\t\xffx"),
            1 => {
                let end = (at + rng.below(8)).min(len);
                bytes.drain(at..end);
            }
            _ => {
                let junk = *rng.pick(&JUNK);
                bytes.splice(at..at, junk.iter().copied());
            }
        }
    }
    bytes
}

#[test]
fn the_fast_path_gives_what_the_general_path_gives() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mangohud");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
    seeds.sort();
    seeds.push(V068.as_bytes().to_vec());
    let mut rng = Rng(0x853c_49e6_748f_ea9b);
    for _ in 0..300 {
        seeds.push(synthetic_log(&mut rng));
    }
    for seed in &seeds {
        assert_same_as_general_path(seed, &mut rng);
    }
    for _ in 0..4000 {
        let seed = seeds[rng.below(seeds.len())].clone();
        let text = mutate(&mut rng, seed);
        assert_same_as_general_path(&text, &mut rng);
    }
    // Two logs in one file, and a log after junk rows.
    for _ in 0..100 {
        let mut text = synthetic_log(&mut rng);
        let second = synthetic_log(&mut rng);
        text.extend(mutate(&mut rng, second));
        assert_same_as_general_path(&text, &mut rng);
    }
}

#[test]
fn rows_the_fast_path_leaves_to_the_general_one() {
    // Each of these rows is read by `str` parsing, as before: same
    // frames, same bad rows, same messages.
    let rows = [
        "100,16.667,7",
        "100,1e1,7",
        "100,+16,7",
        "100,16.,7",
        "100,.5,7",
        "100, 16,7",
        "100,16 ,7",
        "100,16\t,7",
        "100,\u{a0}16,7",
        "100,-1,7",
        "100,-0,7",
        "100,nan,7",
        "100,inf,7",
        "100,1e309,7",
        "100,,7",
        "100,16,7.5",
        "100,16,-7",
        "100,16,+7",
        "100,16,1e3",
        "100,16,99999999999999999999",
        "100,16,18446744073709551615",
        "100,16,18446744073709551616",
        "100,0.0000001,7",
        "100,0.0000004999,7",
        "100,0.0000005,7",
        "100,10000.0000004,7",
        "100,10000.000001,7",
        "100,10000,7",
        "100,12345678901234567890,7",
        "100,1234567890123456789,7",
        "100,9007199254740993,7",
        "100,0.9007199254740993,7",
        "1e2,16,7",
        "100,16,7,",
        "100,16",
        "100,16,7\r",
        "0100,016.6670,0007",
    ];
    for unit in ["v0.8.2\n", "v0.6.8\n", ""] {
        for row in rows {
            let text = format!("{unit}fps,frametime,elapsed\n60,16.6,0\n{row}\n60,16.6,33200000\n");
            let mut rng = Rng(7);
            assert_same_as_general_path(text.as_bytes(), &mut rng);
        }
    }
}

#[test]
fn plain_decimals_read_exactly_as_std_parses_them() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut cases: Vec<Vec<u8>> = [
        "0",
        "00",
        "0.0",
        "16.667",
        "8.333",
        "1e3",
        "-1",
        "+1",
        "nan",
        "NaN",
        "inf",
        "",
        " 5",
        "5 ",
        "5.",
        ".5",
        ".",
        "1.2.3",
        "9007199254740992",
        "9007199254740993",
        "0.9007199254740993",
        "123456789012345678",
        "1234567890123456789",
        "12345678901234567890",
        "99999999999999999999",
        "0.000000000000000001",
        "1.000000000000000000",
        "18446744073709551615",
        "18446744073709551616",
        "4.9406564584124654e-324",
        "1_000",
        "0x10",
        "١٢",
        "12345678",
        "123456789",
        "1234567.8",
        "1234567.89",
        "1.2345678",
        "99999999.99999999",
        "9999999999999999",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for _ in 0..200_000 {
        let len = rng.below(22);
        let alphabet: &[u8] = if rng.below(4) == 0 { b"0123456789.-+eE x," } else { b"0123456789." };
        cases.push((0..len).map(|_| *rng.pick(alphabet)).collect());
    }
    for case in &cases {
        let std_f64 = std::str::from_utf8(case).ok().and_then(|t| t.trim().parse::<f64>().ok()).filter(|v| v.is_finite());
        let std_u64 = std::str::from_utf8(case).ok().and_then(|t| t.trim().parse::<u64>().ok());
        let scalar = decimal_at(case, 0).and_then(|(d, end)| (end == case.len()).then_some(d));
        // The same field with what follows it in a row (the 8- and
        // 16-byte reads), and at the very end of the input.
        for tail in [&b",123456789012345678\n"[..], b"", b"\n", b"9999999999999999"] {
            let mut text = case.clone();
            text.extend_from_slice(tail);
            assert_eq!(decimal(&text, 0, case.len()), scalar, "{:?}", String::from_utf8_lossy(case));
            let int = integer(&text, 0, case.len());
            assert_eq!(int, scalar.filter(|d| d.k == 0).map(|d| d.m), "{:?}", String::from_utf8_lossy(case));
        }
        if let Some(d) = scalar {
            // Only what std reads, and to the same bits.
            let v = std_f64.unwrap_or_else(|| panic!("{:?} taken but std rejects it", String::from_utf8_lossy(case)));
            if let Some(fast) = d.to_f64() {
                assert_eq!(fast.to_bits(), v.to_bits(), "{:?}", String::from_utf8_lossy(case));
            } else {
                assert!(d.m > 1 << 53, "{d:?}");
            }
            if d.k == 0 {
                assert_eq!(std_u64, Some(d.m), "{:?}", String::from_utf8_lossy(case));
            }
        } else if let Some(v) = std_u64 {
            // Digits std reads as u64 are plain unless over 19 digits.
            assert!(case.len() > 19 || !case.iter().all(u8::is_ascii_digit), "{v}");
        }
    }
    // Random plain decimals of every size are all taken, exactly.
    for _ in 0..200_000 {
        let digits = 1 + rng.below(19);
        let k = rng.below(digits);
        let m = rng.next() % 10u64.pow(digits as u32);
        let text = format!("{m:0digits$}");
        let text = if k > 0 { format!("{}.{}", &text[..digits - k], &text[digits - k..]) } else { text };
        let d = decimal(text.as_bytes(), 0, text.len()).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(d, Dec { m, k }, "{text}");
        if let Some(v) = d.to_f64() {
            assert_eq!(v.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{text}");
        }
    }
}

#[test]
fn whole_ns_frame_times_are_what_the_f64_path_gives() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut cases: Vec<(u64, usize)> = vec![
        (10_000, 0),
        (10_000_000_000, 6),
        (10_000_000_001, 6),
        (9_999_999_999, 6),
        (1, 6),
        (0, 0),
        (0, 6),
        (1, 0),
        (10_000_000, 0),
        (10_000_001, 0),
        (10_000_000_000, 3),
        (10_000_000_001, 3),
        (1, 3),
        (16_667, 3),
        (u64::MAX / 10, 6),
    ];
    for _ in 0..500_000 {
        let digits = 1 + rng.below(19);
        cases.push((rng.next() % 10u64.pow(digits as u32), rng.below(8)));
    }
    for (m, k) in cases {
        let text = format!("{m:0width$}", width = k + 1);
        let text = if k > 0 { format!("{}.{}", &text[..text.len() - k], &text[text.len() - k..]) } else { text };
        let t: f64 = text.parse().unwrap();
        for (scale, factor) in [(6, 1e6), (3, 1e3)] {
            // The f64 path, as `accept` has it.
            let ns = t * factor;
            let old = (ns > 0.0 && ns <= MAX_FRAME_NS as f64).then(|| ns.round() as u64);
            match exact_ns(Dec { m, k }, scale) {
                Some(v) => assert_eq!(Some(v), old, "{text} × 10^{scale}"),
                None => assert!(old.is_none() || k > scale, "{text} × 10^{scale}: {old:?}"),
            }
        }
    }
}

#[test]
fn round_positive_is_round() {
    let mut rng = Rng(3);
    let mut xs = vec![0.5, 1.5, 2.5, 0.49999999999999994, 1e10, 4503599627370495.5, 1.0 - f64::EPSILON / 2.0, 1e-300];
    for _ in 0..1_000_000 {
        let x = f64::from_bits(rng.next() >> 2); // 0 .. ~2^1022, all exponents
        xs.push(x);
        xs.push((rng.next() % 20_000_000_000) as f64 / 2.0);
        xs.push((rng.next() % 10_000_000_000) as f64 + (rng.next() % 1000) as f64 / 1000.0);
    }
    for x in xs.into_iter().filter(|&x| x > 0.0 && x < (1u64 << 53) as f64) {
        assert_eq!(round_positive(x), x.round() as u64, "{x:e}");
    }
}

#[test]
fn row_maps_find_every_comma_and_newline() {
    let mut rng = Rng(11);
    for _ in 0..20_000 {
        let block: [u8; 64] = std::array::from_fn(|_| *rng.pick(b",\n0123456789.\r\xff\x80\x2c\x0a\x00\xac\x8a"));
        let naive = |needle: u8| block.iter().enumerate().fold(0u64, |m, (i, &b)| m | u64::from(b == needle) << i);
        let want = [naive(b','), naive(b'\n')];
        assert_eq!(block_maps(&block), want);
        assert_eq!(block_maps_swar(&block), want);
    }
    // Windows across words, to the end and past it.
    let text: Vec<u8> = (0..1000).map(|_| *rng.pick(b",\nx")).collect();
    let mut maps = RowMaps::default();
    maps.build(&text);
    for at in 0..text.len() + 130 {
        let want = |needle: u8| (0..128).fold(0u128, |m, i| m | u128::from(text.get(at + i) == Some(&needle)) << i);
        assert_eq!(maps.windows(at), (want(b','), want(b'\n')), "{at}");
    }
}

#[test]
fn stream_file_reads_as_one_feed_would() {
    // Several read chunks, bad rows, two logs: the reader thread and
    // the batches change nothing.
    let mut rng = Rng(5);
    let mut text = Vec::new();
    while text.len() < 3 * READ_CHUNK + 12345 {
        let log = synthetic_log(&mut rng);
        text.extend(if rng.below(10) == 0 { mutate(&mut rng, log) } else { log });
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.csv");
    std::fs::write(&path, &text).unwrap();
    let mut p = LogParser::new();
    p.fast = false;
    let mut frames = Vec::new();
    let want = p.feed(&text, &mut frames).and_then(|_| p.finish(&mut frames));
    match (parse_file(&path), want) {
        (Ok(parsed), Ok(())) => {
            assert_eq!(parsed.frames, frames);
            assert_eq!(format!("{:?}", parsed.meta), format!("{:?}", p.meta));
            assert_eq!(format!("{:?}", parsed.bad_rows), format!("{:?}", p.bad));
            assert_eq!(parsed.dropped_first_rows, p.dropped_first_rows);
            assert!(frames.len() > 10_000 && p.meta.segments > 100, "{} frames", frames.len());
        }
        (Err(e), Err(w)) => assert_eq!(e.to_string(), format!("{}: {w}", path.display())),
        (got, want) => panic!("{:?} vs {want:?}", got.map(|p| p.frames.len())),
    }
}

#[test]
fn a_file_is_read_from_an_offset_as_the_log_appended_there() {
    // Over a read chunk in, so the reader thread starts from the offset.
    let first = "fps,frametime,elapsed\n".to_string() + &"100,10000,0\n".repeat(READ_CHUNK / 10);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("game.csv");
    std::fs::write(&path, format!("{first}{V068}")).unwrap();
    let parsed = parse_file_from(&path, first.len() as u64).unwrap();
    assert_eq!(parsed.frames.iter().map(|f| f.frametime_ns).collect::<Vec<_>>(), vec![5_000_000, 10_000_000]);
    assert_eq!((parsed.meta.segments, parsed.bad_rows.count), (1, 0));
    assert_eq!(parsed.meta.mangohud_version.as_deref(), Some("0.6.8"));
    // An error names the part that was read; lines count from there.
    std::fs::write(&path, format!("{first}junk\n")).unwrap();
    let err = parse_file_from(&path, first.len() as u64).err().unwrap().to_string();
    let want = format!("{} (from byte {}): line 1: not a MangoHud log: expected a header, found 'junk'", path.display(), first.len());
    assert_eq!(err, want);
}

#[test]
fn summaries_and_frame_logs_are_told_apart_by_name_whatever_its_encoding() {
    use std::os::unix::ffi::OsStrExt;
    let latin1 = |tail: &str| {
        std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&[b"/logs/M\xfcll_2026-12-05_01-00-00".as_slice(), tail.as_bytes()].concat()))
    };
    assert!(is_summary(&latin1("_summary.csv")) && !is_frame_log(&latin1("_summary.csv")));
    assert!(is_frame_log(&latin1(".csv")) && !is_summary(&latin1(".csv")));
    assert!(is_summary(Path::new("/logs/game_2026-12-05_01-00-00_summary.csv")));
    assert!(!is_frame_log(Path::new("/logs/game.txt")));
}

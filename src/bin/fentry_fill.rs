//! fentry_fill: a test tool that fills every BPF trampoline slot of the
//! kernel's `input_event()` with do-nothing fentry programs and holds them
//! until killed, so that scx_gamer's in-kernel input hook cannot attach
//! (the kernel allows a fixed number of links per trampoline, 38 on
//! x86-64): the real failure its userspace fallback exists for. Prints
//! `FILLED <n> (<why the next link was refused>)` once full.
//!
//! Raw instructions and syscalls, no BPF object: the program is `r0 = 0;
//! exit`, which every kernel with fentry verifies.

use std::ffi::CString;
use std::io::Write;

use anyhow::{Context, Result, bail};
use libbpf_rs::libbpf_sys;

/// The kernel function whose trampoline is filled.
const TARGET: &str = "input_event";

/// BTF id of `TARGET` in vmlinux's BTF.
fn target_btf_id() -> Result<u32> {
    let name = CString::new(TARGET)?;
    // SAFETY: libbpf's own loader for /sys/kernel/btf/vmlinux; the handle
    // is checked, only read, and freed here.
    unsafe {
        let btf = libbpf_sys::btf__load_vmlinux_btf();
        if btf.is_null() || libbpf_sys::libbpf_get_error(btf.cast()) != 0 {
            bail!("cannot read the kernel's BTF (/sys/kernel/btf/vmlinux)");
        }
        let id = libbpf_sys::btf__find_by_name_kind(btf, name.as_ptr(), libbpf_sys::BTF_KIND_FUNC);
        libbpf_sys::btf__free(btf);
        u32::try_from(id).ok().filter(|&i| i > 0).with_context(|| format!("no function {TARGET} in the kernel's BTF"))
    }
}

/// Load one `r0 = 0; exit` fentry program on `btf_id`; its fd.
fn load_fentry(btf_id: u32) -> Result<i32> {
    // Encoded bpf_insn records: BPF_ALU64|BPF_MOV|BPF_K r0 = 0, BPF_JMP|BPF_EXIT.
    let insns: [u64; 2] = [u64::from_le_bytes([0xb7, 0, 0, 0, 0, 0, 0, 0]), u64::from_le_bytes([0x95, 0, 0, 0, 0, 0, 0, 0])];
    let mut opts = libbpf_sys::bpf_prog_load_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_prog_load_opts>() as _,
        expected_attach_type: libbpf_sys::BPF_TRACE_FENTRY,
        attach_btf_id: btf_id,
        ..Default::default()
    };
    // SAFETY: two valid 8-byte instructions, NUL-terminated strings, and
    // opts sized as libbpf expects; all outlive the call.
    let fd = unsafe {
        libbpf_sys::bpf_prog_load(
            libbpf_sys::BPF_PROG_TYPE_TRACING,
            c"fentry_fill".as_ptr(),
            c"GPL".as_ptr(),
            insns.as_ptr().cast(),
            insns.len() as _,
            &mut opts,
        )
    };
    if fd < 0 {
        bail!("loading a fentry program on {TARGET}: {}", std::io::Error::from_raw_os_error(-fd));
    }
    Ok(fd)
}

fn main() -> Result<()> {
    let btf_id = target_btf_id()?;
    let mut held = Vec::new();
    let refused = loop {
        let prog = load_fentry(btf_id)?;
        // SAFETY: a program fd we just loaded; no options.
        let link = unsafe { libbpf_sys::bpf_link_create(prog, 0, libbpf_sys::BPF_TRACE_FENTRY, std::ptr::null()) };
        if link < 0 {
            break std::io::Error::from_raw_os_error(-link);
        }
        held.push((prog, link));
        if held.len() > 1000 {
            bail!("{TARGET}'s trampoline took 1000 links and was still not full");
        }
    };
    println!("FILLED {} ({refused})", held.len());
    std::io::stdout().flush()?;
    // Held until killed: the fds close with the process.
    loop {
        std::thread::park();
    }
}

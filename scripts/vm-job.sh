# Sourced by scripts that run a job in the VM test bed (run-in-vm.sh,
# bench/*.sh): sets up, builds the release binary into $bin, and makes an
# empty guest script file $script where the guest can see it (not under
# /tmp, which is a fresh tmpfs in the guest), removed on exit.
scripts/setup.sh >/dev/null
export BPF_CLANG=${BPF_CLANG:-clang-19}
cargo build --locked --release --quiet
bin=$PWD/target/release/scx_gamer
mkdir -p /var/tmp/scx-gamer
script=$(mktemp /var/tmp/scx-gamer/job.XXXXXX)
trap 'rm -f "$script"' EXIT

//! The `kvws` binary: a thin shell over [`kvws::cli`].

fn main() {
    std::process::exit(kvws::cli::main(std::env::args().collect()));
}

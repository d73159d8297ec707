use std::io::Write;

fn main() {
    // Minimal try-out of the argument parser; the real main comes later.
    let config = ferrocache::config::from_env_or_exit();
    let _ = writeln!(std::io::stdout(), "{config:#?}");
}

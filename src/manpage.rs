//! `ferrocache --generate-man`: the man page, rendered from the clap
//! definition of the flags so it cannot drift from `--help`. It is a hidden
//! flag of the daemon rather than a build script or a separate binary so
//! that `make install` (dist/install.sh) renders it with the binary it
//! installs, and without a Rust toolchain.

use std::io::{self, Write};

/// Write the roff source of ferrocache(1) to `out`.
pub fn render(out: &mut dyn Write) -> io::Result<()> {
    let cmd = crate::config::command()
        .about("memcached-compatible, multi-threaded cache daemon")
        .long_about(
            "ferrocache is a memcached-compatible cache daemon. It speaks memcached's text, \
             meta and binary protocols, takes memcached 1.6's command-line flags and \
             Debian's /etc/memcached.conf format (--config-file), and prints memcached's \
             stats fields. Beyond memcached, -o metrics_listen=ADDR:PORT serves Prometheus \
             metrics.",
        );
    let man = clap_mangen::Man::new(cmd).section("1").manual("ferrocache");
    man.render(out)?;
    out.write_all(
        b".SH FILES\n.TP\n/etc/ferrocache.conf\nDefault configuration (Debian memcached.conf format), \
          read with \\fB--config-file\\fR.\n.SH SEE ALSO\nmemcached(1), systemd.service(5)\n",
    )
}

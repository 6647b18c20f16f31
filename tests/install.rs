//! The service packaging: `appliance/install.sh --root DIR` stages the
//! binary, the unit, the policy and the ports file, keeps an operator's
//! files on a second run and on `--uninstall`, and the unit it installs
//! passes `systemd-analyze verify` with the staged binary in place.
//!
//! Needs no root: `--root` never touches the running system. Needs
//! `systemd-analyze` (Debian package `systemd`, installed by
//! `appliance/deps.sh`); without it the tests fail, never skip.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FLYPAPER: &str = env!("CARGO_BIN_EXE_flypaper");

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A staging root, removed when the test ends.
struct Root(PathBuf);

impl Root {
    fn new(name: &str) -> Root {
        let d =
            std::env::temp_dir().join(format!("flypaper-install-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Root(d)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel.trim_start_matches('/'))
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn show(o: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `appliance/install.sh ARGS --root ROOT`; panics unless it succeeds.
fn install(root: &Root, args: &[&str]) -> String {
    let o = Command::new("bash")
        .arg(repo().join("appliance/install.sh"))
        .args(args)
        .arg("--root")
        .arg(&root.0)
        .output()
        .expect("bash");
    assert!(o.status.success(), "install.sh {args:?}: {}", show(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn default_config() -> Vec<u8> {
    let o = Command::new(FLYPAPER)
        .arg("default-config")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    o.stdout
}

const BIN: &str = "usr/local/bin/flypaper";
const UNIT: &str = "etc/systemd/system/flypaper.service";
const CONF: &str = "etc/flypaper/flypaper.toml";
const DEFAULTS: &str = "etc/default/flypaper";

#[test]
fn install_stages_every_file_and_keeps_the_operators_on_reinstall_and_uninstall() {
    let root = Root::new("stage");
    let out = install(&root, &["--binary", FLYPAPER]);
    assert!(out.contains("systemd not touched"), "{out}");

    assert_eq!(root.read(BIN), std::fs::read(FLYPAPER).unwrap(), "{BIN}");
    let mode = std::fs::metadata(root.path(BIN))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "{BIN} mode {mode:o}");
    assert_eq!(
        root.read(UNIT),
        std::fs::read(repo().join("appliance/flypaper.service")).unwrap(),
        "{UNIT}"
    );
    assert_eq!(root.read(CONF), default_config(), "{CONF}");
    assert_eq!(
        root.read(DEFAULTS),
        std::fs::read(repo().join("appliance/flypaper.default")).unwrap(),
        "{DEFAULTS}"
    );
    let defaults = String::from_utf8(root.read(DEFAULTS)).unwrap();
    for key in ["FLYPAPER_WAN=", "FLYPAPER_LAN=", "FLYPAPER_ARGS="] {
        assert!(
            defaults.lines().any(|l| l.starts_with(key)),
            "{key} in {defaults}"
        );
    }

    // The operator edits the policy and the ports; a second run (an
    // update) replaces the binary and the unit but not those.
    let conf = "# the operator's policy\n[filter]\nlan = [\"198.51.100.128/25\"]\n";
    let ports = "FLYPAPER_WAN=enp1s0\nFLYPAPER_LAN=enp2s0\nFLYPAPER_ARGS=\n";
    std::fs::write(root.path(CONF), conf).unwrap();
    std::fs::write(root.path(DEFAULTS), ports).unwrap();
    std::fs::write(root.path(UNIT), "stale").unwrap();
    let out = install(&root, &["--binary", FLYPAPER]);
    assert!(out.contains("kept"), "{out}");
    assert_eq!(root.read(CONF), conf.as_bytes(), "the operator's policy");
    assert_eq!(
        root.read(DEFAULTS),
        ports.as_bytes(),
        "the operator's ports"
    );
    assert_eq!(
        root.read(UNIT),
        std::fs::read(repo().join("appliance/flypaper.service")).unwrap(),
        "the unit is the shipped one again"
    );
    assert_eq!(root.read(BIN), std::fs::read(FLYPAPER).unwrap());

    // Uninstall: the binary and the unit go, the operator's files and the
    // state stay.
    std::fs::create_dir_all(root.path("var/lib/flypaper")).unwrap();
    std::fs::write(root.path("var/lib/flypaper/flies"), "state").unwrap();
    let out = install(&root, &["--uninstall"]);
    assert!(!root.path(BIN).exists(), "{BIN} removed\n{out}");
    assert!(!root.path(UNIT).exists(), "{UNIT} removed\n{out}");
    assert_eq!(root.read(CONF), conf.as_bytes());
    assert_eq!(root.read(DEFAULTS), ports.as_bytes());
    assert_eq!(root.read("var/lib/flypaper/flies"), b"state");
    // Uninstalling twice is no error.
    install(&root, &["--uninstall"]);
}

#[test]
fn install_refuses_a_binary_that_is_not_one() {
    let root = Root::new("nobin");
    let o = Command::new("bash")
        .arg(repo().join("appliance/install.sh"))
        .args(["--binary", "/nonexistent/flypaper", "--root"])
        .arg(&root.0)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not an executable file"),
        "{}",
        show(&o)
    );
    assert!(!root.path(BIN).exists() && !root.path(UNIT).exists());
}

/// `systemd-analyze verify` of the unit as installed, against a staging
/// root that holds the staged binary (verify checks that ExecStart exists)
/// and a copy of the system's own units (the targets the unit is ordered
/// after). Any warning fails the test too: verify exits 0 on an unknown
/// key or a value it cannot parse and only says so.
#[test]
fn the_installed_unit_passes_systemd_analyze_verify() {
    let tool = Command::new("systemd-analyze").arg("--version").output();
    match tool {
        Ok(o) if o.status.success() => {}
        other => panic!(
            "systemd-analyze is needed to check appliance/flypaper.service: \
             apt-get install systemd (appliance/deps.sh installs it) ({other:?})"
        ),
    }
    let root = Root::new("verify");
    install(&root, &["--binary", FLYPAPER]);
    let units = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("multi-user.target").exists())
        .expect("the system's units (multi-user.target) in /usr/lib/systemd/system");
    std::fs::create_dir_all(root.path("usr/lib/systemd")).unwrap();
    let cp = Command::new("cp")
        .arg("-a")
        .arg(units)
        .arg(root.path("usr/lib/systemd/system"))
        .output()
        .unwrap();
    assert!(cp.status.success(), "{}", show(&cp));

    let verify = |unit: &str| {
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", root.0.display()))
            .arg("--man=no")
            .arg(unit)
            .output()
            .unwrap()
    };
    let o = verify("flypaper.service");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success() && said.trim().is_empty(),
        "systemd-analyze verify flypaper.service: {}",
        show(&o)
    );

    // The check is real: without the binary the same unit fails.
    std::fs::remove_file(root.path(BIN)).unwrap();
    let o = verify("flypaper.service");
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not executable"),
        "verify without the binary: {}",
        show(&o)
    );
}

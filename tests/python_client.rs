//! The Python client's tests (`clients/python/tests`, run by pytest) against
//! this build's server and the client's source in this tree.
//!
//! `KVWS_PYTHON` names the interpreter: a virtual environment with
//! `websockets` and `pytest` (and the package) installed, as `.ci/run` makes
//! one. Without it the test says it skipped and passes, unless
//! `KVWS_REQUIRE_CLIENTS=1` (CI), where it fails.

mod common;

use std::process::Command;
use std::time::Duration;

use common::suite;

#[test]
fn the_python_client_passes_its_tests() {
    let Some(python) = std::env::var_os("KVWS_PYTHON").filter(|p| !p.is_empty()) else {
        return suite::skip(
            "Python client's tests",
            "KVWS_PYTHON does not name a Python with websockets and pytest",
        );
    };
    let python = python.to_string_lossy().into_owned();
    let check = "import websockets, pytest";
    assert!(
        suite::output_of(&python, &["-c", check]).is_some(),
        "KVWS_PYTHON={python} cannot `{check}`: install them (pip install ./clients/python pytest)"
    );
    let dir = suite::root().join("clients/python");
    let mut pytest = Command::new(&python);
    pytest
        .current_dir(&dir)
        // The client as it is in this tree, not as it was installed.
        .env("PYTHONPATH", dir.join("src"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-m", "pytest", "-p", "no:cacheprovider", "tests"]);
    suite::run("Python client's tests", pytest, Duration::from_secs(180));
}

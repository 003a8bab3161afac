//! A test of the two threads together: the completer asks the worker for
//! keys, and learns the ids the commands used.

use super::editor::key_source;
use super::*;
use crate::cli::complete::Completions;
use crate::client::{Client, ConnectOptions, SetOptions};

#[test]
fn the_worker_answers_the_completer_with_keys_and_ids_used() {
    let mut server = crate::Server::bind(crate::Config::default().port(0)).unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let handle = server.handle();
    let running = std::thread::spawn(move || server.run().unwrap());
    let mut c = Client::connect(&url).unwrap();
    for key in ["room/a", "room/b", "x"] {
        c.set("app", key, "1", &SetOptions::new()).unwrap();
    }
    let ids = Arc::new(Mutex::new(Ids::default()));
    let shell = Shell {
        sub: Subscriber::connect(&url, ConnectOptions::default()).unwrap(),
        id: None,
        out: Out::Quiet,
        ids: Arc::clone(&ids),
    };
    let (ask, lookups) = mpsc::channel();
    let (jobs, inbox) = mpsc::channel();
    let worker = std::thread::spawn(move || shell.serve(inbox, lookups));
    let run = |line: &str| {
        let (done, wait) = mpsc::channel();
        jobs.send((line.to_string(), done)).unwrap();
        wait.recv().unwrap()
    };
    let completions = Completions::new(Arc::clone(&ids), key_source(ask));
    assert_eq!(completions.candidates("get ", 4).1, Vec::<String>::new());
    run("get app x");
    assert_eq!(completions.candidates("get ", 4).1, ["app"]);
    assert_eq!(
        completions.candidates("get app room", 12).1,
        ["room/a", "room/b"]
    );
    assert_eq!(run("use app"), "kvws app> ");
    assert_eq!(
        completions.candidates("del ", 4).1,
        ["room/a", "room/b", "x"]
    );
    drop(jobs);
    worker.join().unwrap();
    drop(c);
    handle.shutdown();
    running.join().unwrap();
}

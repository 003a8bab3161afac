//! HTTP responses an embedding program builds for its own paths (see
//! [`Hooks::on_http`](crate::Hooks::on_http)), and static files.

use std::fmt::Write as _;
use std::path::{Component, Path};

/// Largest file [`Response::file`] serves: the response is built in memory
/// and queued whole, so a large file would hold that much per request.
pub const MAX_FILE: u64 = 8 << 20;

/// An HTTP response: status, headers and body. The server adds
/// `Content-Length` and `Connection: close` (one request per connection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Header names and values (without `Content-Length` or `Connection`).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `200 OK` with `body` of `content_type`.
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response::new(200)
            .header("Content-Type", content_type)
            .body(body)
    }

    /// A `200 OK` with a plain-text body.
    pub fn text(body: impl Into<String>) -> Response {
        Response::ok("text/plain; charset=utf-8", body.into())
    }

    /// A `200 OK` with a JSON body (`json` is sent as it is).
    pub fn json(json: impl Into<String>) -> Response {
        Response::ok("application/json", json.into())
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// The file `request_path` names under `root` (like the R package's
    /// `static_file_service`), with a content type from its extension;
    /// `index.html` for a directory. `None` when there is no such file, or
    /// the path tries to leave `root` (`..`, absolute parts), or the file
    /// is over [`MAX_FILE`]. `request_path` is the URL path, without the
    /// query; percent-encoded paths are not decoded.
    pub fn file(root: &Path, request_path: &str) -> Option<Response> {
        let relative = Path::new(request_path.trim_start_matches('/'));
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return None;
        }
        let mut path = root.join(relative);
        if path.is_dir() {
            path.push("index.html");
        }
        let meta = std::fs::metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_FILE {
            return None;
        }
        let body = std::fs::read(&path).ok()?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        Some(Response::ok(content_type(ext), body).header("X-Content-Type-Options", "nosniff"))
    }

    /// The response's bytes: status line, headers, and the body unless
    /// `head_only`.
    pub(crate) fn encode(&self, head_only: bool) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            // A header cannot carry a line break: it would start another.
            let clean = |s: &str| s.replace(['\r', '\n'], " ");
            let _ = write!(head, "{}: {}\r\n", clean(name), clean(value));
        }
        let _ = write!(
            head,
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        );
        let mut out = head.into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// The content type of a file with extension `ext`.
fn content_type(ext: &str) -> &'static str {
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// The reason phrase of a status code.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_say_their_length_and_close() {
        let r = Response::text("hi").header("X-A", "1\r\nX-Evil: 2");
        let bytes = String::from_utf8(r.encode(false)).unwrap();
        assert_eq!(
            bytes,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nX-A: 1  X-Evil: 2\r\n\
             Content-Length: 2\r\nConnection: close\r\n\r\nhi"
        );
        assert!(
            String::from_utf8(r.encode(true))
                .unwrap()
                .ends_with("\r\n\r\n")
        );
    }

    #[test]
    fn files_are_served_from_their_root_only() {
        let root = std::env::temp_dir().join(format!("kvws-files-{}", std::process::id()));
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/index.html"), "<p>hi</p>").unwrap();
        std::fs::write(root.join("app.js"), "x()").unwrap();
        let r = Response::file(&root, "/app.js").unwrap();
        assert_eq!(r.body, b"x()");
        assert!(r.headers.contains(&(
            "Content-Type".into(),
            "text/javascript; charset=utf-8".into()
        )));
        assert_eq!(Response::file(&root, "/sub").unwrap().body, b"<p>hi</p>");
        assert!(Response::file(&root, "/nope").is_none());
        assert!(Response::file(&root, "/../etc/passwd").is_none());
        assert!(Response::file(&root, "/sub/../app.js").is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }
}

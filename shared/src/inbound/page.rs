//! The small HTML pages a person sees during connect.

use lambda_http::{Body, Response};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A complete HTML page. `reference` (the request id) lets support find the log line.
pub fn html(status: u16, title: &str, message: &str, reference: &str) -> Response<Body> {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;\
         margin:4rem auto;padding:0 1rem;line-height:1.5}}small{{color:#666}}</style></head>\
         <body><h1>{title}</h1><p>{message}</p><p><small>Reference: {reference}</small></p>\
         </body></html>\n",
        title = escape(title),
        message = escape(message),
        reference = escape(reference),
    );
    with_security_headers(Response::builder().status(status))
        .header("Content-Type", "text/html; charset=utf-8")
        .body(Body::Text(body))
        .expect("static headers are valid")
}

/// A redirect to the provider's consent page.
pub fn redirect(location: &str) -> Response<Body> {
    with_security_headers(Response::builder().status(302))
        .header("Location", location)
        .body(Body::Empty)
        .expect("a URL we built is a valid header value")
}

/// Pages and redirects carry OAuth codes and states in their URLs: never cache them, and
/// never leak them to another site in a Referer header.
fn with_security_headers(builder: http::response::Builder) -> http::response::Builder {
    builder
        .header("Cache-Control", "no-store")
        .header("Referrer-Policy", "no-referrer")
        .header("X-Content-Type-Options", "nosniff")
        .header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        )
}

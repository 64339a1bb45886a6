//! The benchmark ceiling: a bare actix-web server answering a static JSON body, with the same
//! worker count as mdz, so `just bench` can put mdz's figures next to what actix itself does.

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18181".into());
    let workers = std::env::args()
        .nth(2)
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    HttpServer::new(|| {
        App::new().route(
            "/static",
            web::get().to(|| async {
                HttpResponse::Ok().content_type("application/json").body(
                    r#"{"id":"01a20197-3f5e-7302-96b9-b72a132b2f57","email":"bench@example.com"}"#,
                )
            }),
        )
    })
    .workers(workers)
    .bind(listen)?
    .run()
    .await
}

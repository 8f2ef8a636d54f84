//! `make run`: every route on http://127.0.0.1:3000, embedded backend, demo data. It listens on
//! loopback unless `BIND_ADDRESS` names another address.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use shared::config::{Backend, Config};
use shared::Ctx;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::alloc::return_large_allocations_to_the_system();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    let mut config = Config::from_env()?;
    let embedded = matches!(config.backend, Backend::Embedded { .. });
    // Keys not configured otherwise (in AWS, the secrets their ARNs name) derive from a local
    // secret kept beside the database, so tokens survive a restart.
    if std::env::var("LOCAL_SECRET").is_err() {
        config.fill_from_local_secret(&local_secret(Path::new(".local/secret"))?);
    }
    let bind = local::loopback::bind_address(std::env::var("BIND_ADDRESS").ok().as_deref())?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    if config.public_base_url.is_none() {
        // Links in mail and download URLs point at this gateway, whatever its port.
        config.public_base_url = Some(format!("http://127.0.0.1:{port}"));
    }
    let ctx = Arc::new(if embedded {
        Ctx::embedded(config)?
    } else {
        Ctx::aws_with_secret(config, &shared::context::aws_sdk_config().await).await?
    });
    // The demo operator's password is below the policy: it may exist on this machine only,
    // never in tables that could be a deployment's.
    let seeded = embedded && local::demo::seed(&ctx).await?;
    if embedded {
        // This machine's keys, published for /.well-known/jwks.json (a deployment does this
        // with `fintract-admin keys sync`).
        shared::signing::rotate(&ctx, shared::signing::Step::Sync).await?;
    }
    let (addr, server) = local::spawn(ctx, SocketAddr::new(bind, port)).await?;
    println!(
        "\nDFCU & Fintract API on http://{addr}{}",
        if seeded { " (demo data seeded)" } else { "" }
    );
    if !bind.is_loopback() {
        println!(
            "  BIND_ADDRESS={bind}: reachable beyond this machine. The local tools answer only to \
             loopback names, which stops browsers, not other clients: /_local/outbox holds every \
             sign-in code"
        );
    }
    println!("  try every endpoint in the browser: http://{addr}/docs (contract: /openapi.yaml)");
    println!("  dashboard: http://{addr}/api");
    if embedded {
        println!("  operator (dashboard, FINTRACT_ADMIN): admin / 1234");
        println!("  customer James Blunt (C003, account 5000145080): jblunt / james-demo-pass");
        println!("  try: curl -s -X POST http://{addr}/token/ -d username=jblunt -d password=james-demo-pass\n");
    } else {
        println!("  AWS backend: no demo data is seeded; create an admin with `fintract-admin create-admin`\n");
    }
    server.await?;
    Ok(())
}

/// A random signing secret kept beside the database, so tokens survive a restart.
fn local_secret(path: &Path) -> std::io::Result<Vec<u8>> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        if existing.trim().len() >= shared::config::MIN_SECRET_BYTES {
            return Ok(existing.trim().as_bytes().to_vec());
        }
    }
    let secret = format!("{}{}", shared::jwt::random_id(), shared::jwt::random_id());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, &secret)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(secret.into_bytes())
}

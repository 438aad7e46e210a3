//! Hello world: looks up its KV binding (no KV call) and answers "hello".
use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(_req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let _kv = env.kv("REVOKED_TOKENS")?;
    Response::ok("hello")
}

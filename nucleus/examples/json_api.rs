//! A small JSON API over an in-memory store: state, path parameters, query strings, JSON
//! bodies, rejections and nesting.
//!
//! ```text
//! cargo run -p nucleus --example json_api
//! curl -X POST localhost:8000/api/todos -H 'content-type: application/json' -d '{"title":"write docs"}'
//! curl 'localhost:8000/api/todos?done=false'
//! curl -X PATCH localhost:8000/api/todos/1 -d '{"done":true}'
//! curl -X DELETE localhost:8000/api/todos/1
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use nucleus::rejection::Rejection;
use nucleus::response::{IntoResponse, Json, Response};
use nucleus::{Request, Router, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Default)]
struct Store {
    todos: Mutex<BTreeMap<u64, Todo>>,
}

impl Store {
    // A handler that panicked mid-update leaves plain data behind; keep serving it.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Todo>> {
        self.todos.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone, Serialize)]
struct Todo {
    id: u64,
    title: String,
    done: bool,
}

#[derive(Deserialize)]
struct NewTodo {
    title: String,
}

#[derive(Deserialize)]
struct Patch {
    title: Option<String>,
    done: Option<bool>,
}

#[derive(Deserialize)]
struct Filter {
    done: Option<bool>,
}

/// Everything a handler here can fail with.
enum ApiError {
    Rejected(Rejection),
    NotFound,
}

impl<E: Into<Rejection>> From<E> for ApiError {
    fn from(err: E) -> ApiError {
        ApiError::Rejected(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Rejected(rejection) => rejection.into_response(),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "no such todo").into_response(),
        }
    }
}

fn id(req: &Request) -> Result<u64, ApiError> {
    req.param("id")
        .and_then(|id| id.parse().ok())
        .ok_or(ApiError::NotFound)
}

async fn list(req: Request) -> Result<Json<Vec<Todo>>, ApiError> {
    let filter: Filter = req.query()?;
    let store = req.state::<Store>()?;
    let todos = store.lock();
    let matching = todos
        .values()
        .filter(|t| filter.done.is_none_or(|done| t.done == done));
    Ok(Json(matching.cloned().collect()))
}

async fn create(mut req: Request) -> Result<(StatusCode, Json<Todo>), ApiError> {
    let new: NewTodo = req.json().await?;
    let store = req.state::<Store>()?;
    let mut todos = store.lock();
    let id = todos.keys().next_back().map_or(1, |last| last + 1);
    let todo = Todo {
        id,
        title: new.title,
        done: false,
    };
    todos.insert(id, todo.clone());
    Ok((StatusCode::CREATED, Json(todo)))
}

async fn show(req: Request) -> Result<Json<Todo>, ApiError> {
    let id = id(&req)?;
    let store = req.state::<Store>()?;
    let todo = store.lock().get(&id).cloned();
    todo.map(Json).ok_or(ApiError::NotFound)
}

async fn update(mut req: Request) -> Result<Json<Todo>, ApiError> {
    let id = id(&req)?;
    let patch: Patch = req.json().await?;
    let store = req.state::<Store>()?;
    let mut todos = store.lock();
    let todo = todos.get_mut(&id).ok_or(ApiError::NotFound)?;
    if let Some(title) = patch.title {
        todo.title = title;
    }
    if let Some(done) = patch.done {
        todo.done = done;
    }
    Ok(Json(todo.clone()))
}

async fn remove(req: Request) -> Result<StatusCode, ApiError> {
    let id = id(&req)?;
    let store = req.state::<Store>()?;
    let removed = store.lock().remove(&id);
    removed
        .map(|_| StatusCode::NO_CONTENT)
        .ok_or(ApiError::NotFound)
}

fn app() -> Router {
    let todos = Router::new()
        .get("/", list)
        .post("/", create)
        .get("/{id}", show)
        .patch("/{id}", update)
        .delete("/{id}", remove)
        // Todos are small; refuse anything bigger than 16 KiB.
        .body_limit(16 * 1024);
    Router::new()
        .nest("/api/todos", todos)
        .fallback(|_req: Request| async { (StatusCode::NOT_FOUND, "see /api/todos") })
        .state(Store::default())
}

fn main() -> std::io::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 8000));
    let server = nucleus::Server::builder().listen(addr).bind()?;
    println!("listening on http://{addr}/api/todos");
    server.run(app())
}

//! stub
/// stub
#[derive(Debug)]
pub struct ChunkedDecoder;
/// stub
#[derive(Debug)]
pub enum Decoded {}
/// stub
pub fn fuzz_chunked(_b: &[u8]) {}

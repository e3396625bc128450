//! stub
/// stub
#[derive(Debug)]
pub struct ParsedHead;
/// stub
pub fn parse_head() {}

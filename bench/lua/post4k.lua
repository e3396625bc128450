-- POST /echo with a 4096-byte body.
wrk.method = "POST"
wrk.path = "/echo"
wrk.body = string.rep("a", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"

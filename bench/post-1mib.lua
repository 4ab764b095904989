-- wrk: every request a POST of 1 MiB (bench/all.sh, the upload rows).
wrk.method = "POST"
wrk.body = string.rep("u", 1024 * 1024)
wrk.headers["Content-Type"] = "application/octet-stream"

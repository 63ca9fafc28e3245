-- wrk at a steady 200 requests/s: each of the 4 connections waits 20 ms between requests.
-- Used by benches/console.rs: wrk -t2 -c4 -d10s --latency -s benches/wrk-200rps.lua URL
function delay()
  return 20
end

-- wrk script of the OCSP benchmark: every request is one of many pre-signed answers, drawn
-- uniformly or by a Zipf law (s = BENCH_ZIPF_S) over their ranks, from BENCH_LIST:
--   BENCH_METHOD=GET   one URL path per line
--   BENCH_METHOD=POST  one DER request per line, in hex, sent to BENCH_POST_PATH
-- The list is in random order, so the hot ranks are spread over the whole store.
local method = os.getenv("BENCH_METHOD") or "GET"
local dist = os.getenv("BENCH_DIST") or "uniform"
local s = tonumber(os.getenv("BENCH_ZIPF_S") or "1.1")
local post_path = os.getenv("BENCH_POST_PATH") or "/ocsp"
local items, cdf, n = {}, {}, 0
local headers = { ["Content-Type"] = "application/ocsp-request" }

local function unhex(h)
  return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

function init(args)
  for line in io.lines(os.getenv("BENCH_LIST")) do
    n = n + 1
    items[n] = method == "POST" and unhex(line) or line
  end
  if dist == "zipf" then
    local acc = 0
    for k = 1, n do
      acc = acc + k ^ -s
      cdf[k] = acc
    end
    for k = 1, n do
      cdf[k] = cdf[k] / acc
    end
  end
  math.randomseed(os.time() * 1000 + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

local function pick()
  if dist ~= "zipf" then
    return math.random(n)
  end
  local u, lo, hi = math.random(), 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end

function request()
  local item = items[pick()]
  if method == "POST" then
    return wrk.format("POST", post_path, headers, item)
  end
  return wrk.format("GET", item)
end

-- Whether a stored JSON value can be written out as text safely. jsonb keeps a number as a
-- numeric, compactly, but its text output writes every digit, never an exponent: 1e131071 is a
-- few bytes in jsonb and 131,072 characters in data::text. A 38 KB document of such numbers
-- reads back as 550 million characters, past V8's largest string: the reading process dies.
--
-- The rule, the same as MAX_NUMBER_TEXT_BYTES in common/json.ts (which refuses such inserts):
-- the numbers whose magnitude is at least 1e19, or below 1e-19 (zero included when it keeps 20
-- or more decimals: 0e-30 is written "0." and 30 zeros), may take at most 4 MiB once written
-- out. Every other number is written out in about as many characters as it was sent with.
--
-- This file is identical in sql/publisher and sql/subscriber: the publisher's REST API and the
-- subscriber's gateway both guard their reads with collector_json_servable(data), and never run
-- data::text where it is false. Nothing here turns a big number into text.

-- One row per counted number of j: the characters its text output takes. From the numeric's
-- magnitude and display scale (scale()), never from writing it out.
--   * jsonb_path_query_array, not jsonb_path_query: the latter is quadratic in the number of
--     results (it drops the first element of a list on every row).
--   * The integer digits are floor(log10) + 1. Below 1e300 log() of a float8 is enough and
--     cheap (trunc() first: the float conversion goes through the integer part's text, at most
--     300 digits); above, numeric log(). Then one digit of correction either way, where rounding
--     crossed a power of ten (log(9999999999999999999999.9) rounds to 22), by comparing with
--     '1e<k>', which is parsed, never printed. 1e131072 would overflow: no numeric reaches it.
--   * OFFSET 0 keeps each LATERAL subquery whole, so log() runs once per number, not once per
--     use of its result.
CREATE FUNCTION collector_json_number_text_sizes(j jsonb) RETURNS SETOF bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
  SELECT CASE
      -- Zero has no sign: "0", then "." and its decimals if it has 20 or more.
      WHEN n = 0 THEN CASE WHEN scale(n) >= 20 THEN 2 + scale(n) ELSE 0 END
      -- Below one: "0." and the decimals.
      WHEN abs(n) < 1e-19 THEN (n < 0)::int + 2 + scale(n)
      ELSE (n < 0)::int
        + d + 1
        + CASE WHEN d >= 131071 THEN 0 WHEN abs(n) >= ('1e' || (d + 1))::numeric THEN 1 ELSE 0 END
        - CASE WHEN abs(n) < ('1e' || d)::numeric THEN 1 ELSE 0 END
        + CASE WHEN scale(n) > 0 THEN 1 + scale(n) ELSE 0 END
    END
  FROM jsonb_array_elements(jsonb_path_query_array(j,
         'strict $.** ? (@.type() == "number" && (@ >= 1e19 || @ <= -1e19 || (@ < 1e-19 && @ > -1e-19)))'
       )) AS e(v)
  CROSS JOIN LATERAL (SELECT v::numeric AS n) AS a
  CROSS JOIN LATERAL (
    SELECT CASE
        WHEN abs(n) < 1e19 THEN NULL
        WHEN abs(n) < 1e300 THEN floor(log(trunc(abs(n))::float8))
        ELSE least(floor(log(abs(n))), 131071)
      END::int AS d
    OFFSET 0) AS b;
END;

-- Characters the counted numbers of j take once written out, in all. For diagnostics and tests:
-- reads use collector_json_servable, which stops as soon as the limit is passed.
CREATE FUNCTION collector_json_number_text_bytes(j jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (SELECT coalesce(sum(b), 0) FROM collector_json_number_text_sizes(j) AS s(b));

-- Whether the counted numbers of j fit in 4 MiB. The running sum stops at the first number past
-- the limit: a 38 KB row of 1e131071 is judged after 33 of its 4,200 numbers.
CREATE FUNCTION collector_json_numbers_fit(j jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN NOT EXISTS (
  SELECT FROM (
    SELECT sum(b) OVER (ROWS UNBOUNDED PRECEDING) AS total
      FROM collector_json_number_text_sizes(j) AS s(b)
  ) AS running
  WHERE total > 4194304
);

-- True when data::text of j is safe to run. The first test (@?, which stops at the first hit)
-- finds whether any number counts at all, so ordinary documents cost one jsonpath scan and never
-- reach the sum. jsonpath cannot read a scale: to tell 0e-30 from 0 it writes out zeros alone
-- (.string(): "0" for ordinary ones, and the scan stops at the first with 20 decimals, at most
-- 16,385 characters). Not STRICT, so that the planner inlines it into the caller's query.
CREATE FUNCTION collector_json_servable(j jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN NOT (j @? 'strict $.** ? (@.type() == "number" && (@ >= 1e19 || @ <= -1e19 || (@ != 0 && @ < 1e-19 && @ > -1e-19) || (@ == 0 && @.string() starts with "0.00000000000000000000")))')
  OR collector_json_numbers_fit(j);

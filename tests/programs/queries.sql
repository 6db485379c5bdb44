-- A database workload for the shim's real-program tests: tables built from a
-- recursive query, an index, joins, grouping, window functions, text and
-- JSON functions, an update and a delete.  Prints the same rows every run.
CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, city INTEGER, score REAL);
CREATE TABLE cities(id INTEGER PRIMARY KEY, name TEXT);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 40000)
INSERT INTO people SELECT x, 'person' || x, x % 50, (x * 7919 % 1000) / 10.0 FROM n;
WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < 49)
INSERT INTO cities SELECT x, 'city' || printf('%02d', x) FROM n;
CREATE INDEX people_city ON people(city, score);
SELECT count(*), sum(score), min(name), max(name) FROM people;
SELECT c.name, count(*), round(avg(p.score), 3), max(p.score)
  FROM people p JOIN cities c ON c.id = p.city GROUP BY c.name ORDER BY 3 DESC, 1 LIMIT 5;
SELECT name, score, rank() OVER (PARTITION BY city ORDER BY score DESC, id) AS r
  FROM people WHERE city = 7 ORDER BY r, id LIMIT 5;
SELECT group_concat(name, ';') FROM (SELECT name FROM people WHERE id % 4000 = 0 ORDER BY id);
SELECT json_group_array(json_object('id', id, 'len', length(name))) FROM people WHERE id < 6;
UPDATE people SET score = score * 2 WHERE city IN (SELECT id FROM cities WHERE name LIKE 'city1%');
DELETE FROM people WHERE id % 3 = 0;
SELECT count(*), round(sum(score), 1), count(DISTINCT city) FROM people;
SELECT upper(substr(name, 1, 3)), replace(name, 'person', 'p'), hex(zeroblob(4)) FROM people WHERE id IN (1, 2, 40000);

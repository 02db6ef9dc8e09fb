package datapath

import (
	"fmt"
	"strings"
)

// shape is one database of the round-trip corpus: a name and the SQL that builds it.
type shape struct {
	db  string
	sql string
}

// corpus returns the database shapes a backup must carry over unchanged. Each shape lives in
// its own database so that a failure names the shape.
func corpus() []shape {
	wide := make([]string, 0, 300)
	wideVals := make([]string, 0, 300)
	for i := 0; i < 300; i++ {
		wide = append(wide, fmt.Sprintf("c%03d INT", i))
		wideVals = append(wideVals, fmt.Sprintf("%d", i*7))
	}
	var many strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&many, "CREATE TABLE t%03d (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO t%03d VALUES (1, 'row-%d'), (2, NULL);\n", i, i, i)
	}
	return []shape{
		{"c_utf8mb4", `CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci, b TEXT CHARACTER SET utf8mb4);
			INSERT INTO t VALUES (1, 'emoji 😀🎉👩‍👩‍👧‍👦', 'music 𝄞 and math 𝔸'), (2, '中文 日本語 한국어', 'RTL: עברית العربية'),
			(3, 'combining e\u0301 vs é', CONCAT('zero width', X'E2808B', 'joiner')), (4, '', '');`},
		{"c_latin1", `CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(50)) CHARACTER SET latin1;
			CREATE TABLE c (id INT PRIMARY KEY, s VARCHAR(50)) CHARACTER SET cp1251;
			INSERT INTO t VALUES (1, 'Ærøskøbing façade naïve'), (2, 'Straße ¿qué?');
			INSERT INTO c VALUES (1, 'Москва');`},
		{"c_blobs", `CREATE TABLE t (id INT PRIMARY KEY, b BLOB, lb LONGBLOB, vb VARBINARY(64), bin BINARY(8));
			INSERT INTO t VALUES (1, X'00FF27225C0A0D1A00', RANDOM_BYTES(1024), X'', X'0102');
			INSERT INTO t SELECT seq + 1, RANDOM_BYTES(255), RANDOM_BYTES(1000), RANDOM_BYTES(64), RANDOM_BYTES(8) FROM seq_1_to_200;`},
		{"c_nulls", `CREATE TABLE t (id INT PRIMARY KEY, i INT NULL, d DECIMAL(10,2) NULL, s VARCHAR(10) NULL, b BLOB NULL, dt DATETIME NULL, j JSON NULL, e ENUM('a','b') NULL, bt BIT(3) NULL);
			INSERT INTO t VALUES (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), (2, 0, 0, '', X'', '2000-01-01', '{}', 'a', b'0'),
			(3, NULL, 1.5, 'NULL', NULL, NULL, 'null', NULL, NULL);`},
		{"c_large_rows", `CREATE TABLE t (id INT PRIMARY KEY, lb LONGBLOB, lt LONGTEXT);
			INSERT INTO t VALUES (1, REPEAT(RANDOM_BYTES(1024), 12 * 1024), NULL);
			INSERT INTO t VALUES (2, NULL, REPEAT('x\'y"z\\ 😀', 400 * 1024));`},
		{"c_generated", `CREATE TABLE t (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT,
			total DECIMAL(12,2) AS (price * qty) STORED, label VARCHAR(40) AS (CONCAT('item-', id)) VIRTUAL, INDEX (label));
			INSERT INTO t (id, price, qty) VALUES (1, 9.99, 3), (2, 0.01, 100000);`},
		{"c_triggers", `CREATE TABLE t (id INT PRIMARY KEY, v INT, updated INT DEFAULT 0);
			CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(100));
			DELIMITER ;;
			CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.v = COALESCE(NEW.v, 0) * 2; END;;
			CREATE TRIGGER t_au AFTER UPDATE ON t FOR EACH ROW BEGIN INSERT INTO audit (msg) VALUES (CONCAT('updated ', OLD.id, '; "quoted" ''x''')); END;;
			DELIMITER ;
			INSERT INTO t (id, v) VALUES (1, 5), (2, NULL);
			UPDATE t SET updated = 1 WHERE id = 1;`},
		{"c_routines", `CREATE TABLE t (id INT PRIMARY KEY, v INT);
			INSERT INTO t VALUES (1, 10), (2, 20);
			DELIMITER ;;
			CREATE PROCEDURE add_row(IN p_id INT, IN p_v INT, OUT p_count INT) MODIFIES SQL DATA
			BEGIN
			  INSERT INTO t VALUES (p_id, p_v); -- a comment; with a semicolon
			  SELECT COUNT(*) INTO p_count FROM t;
			END;;
			CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;;
			CREATE FUNCTION greet(n VARCHAR(20)) RETURNS VARCHAR(60) CHARSET utf8mb4 DETERMINISTIC RETURN CONCAT('héllo ', n, ' 😀 ''quoted''');;
			DELIMITER ;`},
		{"c_views", `CREATE TABLE t (id INT PRIMARY KEY, v INT, secret VARCHAR(10));
			INSERT INTO t VALUES (1, 1, 'a'), (2, 2, 'b');
			CREATE VIEW v1 AS SELECT id, v FROM t WHERE v > 0;
			CREATE ALGORITHM=MERGE SQL SECURITY INVOKER VIEW v2 AS SELECT id, v * 10 AS v10 FROM v1;
			CREATE VIEW v3 (a, b) AS SELECT COUNT(*), SUM(v10) FROM v2;
			CREATE VIEW v4 AS SELECT id, v FROM t WHERE v > 0 WITH CASCADED CHECK OPTION;`},
		{"c_events", `CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME);
			CREATE EVENT ev_daily ON SCHEDULE EVERY 1 DAY STARTS '2035-01-01 03:00:00' ON COMPLETION PRESERVE DO INSERT INTO t (at) VALUES (NOW());
			CREATE EVENT ev_once ON SCHEDULE AT '2036-06-01 00:00:00' ON COMPLETION PRESERVE DISABLE COMMENT 'it''s disabled' DO DELETE FROM t;`},
		{"c_fks", `CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(20));
			CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NOT NULL, FOREIGN KEY fk_p (parent_id) REFERENCES parent (id) ON DELETE CASCADE ON UPDATE CASCADE);
			CREATE TABLE grandchild (id INT PRIMARY KEY, child_id INT, FOREIGN KEY (child_id) REFERENCES child (id) ON DELETE SET NULL);
			CREATE TABLE node (id INT PRIMARY KEY, up INT NULL, FOREIGN KEY (up) REFERENCES node (id));
			INSERT INTO parent VALUES (1, 'p1'), (2, 'p2');
			INSERT INTO child VALUES (10, 1), (11, 2), (12, 2);
			INSERT INTO grandchild VALUES (100, 10), (101, NULL);
			INSERT INTO node VALUES (1, NULL), (2, 1), (3, 2);`},
		{"c_many_tables", many.String()},
		{"c_empty_db", ``},
		{"odd db-name`with tick", `CREATE TABLE ` + "`my table-1`" + ` (` + "`col with space`" + ` INT PRIMARY KEY, ` + "`dash-col`" + ` VARCHAR(5));
			INSERT INTO ` + "`my table-1`" + ` VALUES (1, 'a'), (2, 'b');`},
		{"données_ñ", "CREATE TABLE `表` (id INT PRIMARY KEY, `ünïcode` VARCHAR(10)); INSERT INTO `表` VALUES (1, 'ok');"},
		{"dot.ted", `CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1);`},
		{"c_reserved", "CREATE TABLE `select` (`order` INT PRIMARY KEY, `from` VARCHAR(10), `where` INT); INSERT INTO `select` VALUES (1, 'x', 2);"},
		// FLOAT values have at most 6 significant digits: MariaDB prints FLOAT with 6 digits, so
		// mysqldump (any logical dump) cannot carry more. DOUBLE and DECIMAL keep full precision.
		{"c_numbers", `CREATE TABLE t (id INT PRIMARY KEY, f FLOAT, d DOUBLE, dec65 DECIMAL(65,30), ub BIGINT UNSIGNED, sb BIGINT, ti TINYINT, bt BIT(64));
			INSERT INTO t VALUES (1, 0.1, 0.1, 0.000000000000000000000000000001, 18446744073709551615, -9223372036854775808, -128, b'1010101010101010101010101010101010101010101010101010101010101010'),
			(2, 3.40282e38, 1.7976931348623157e308, 99999999999999999999999999999999999.999999999999999999999999999999, 0, 9223372036854775807, 127, 0),
			(3, 0.333333, 1/3, -1/3, 1, 0, 0, b'1'), (4, -1.17549e-38, 2.2250738585072014e-308, 0, 42, -1, -1, b'11');`},
		{"c_temporal", `SET SESSION sql_mode = '';
			CREATE TABLE t (id INT PRIMARY KEY, d DATE, dt DATETIME(6), ts TIMESTAMP(6) NULL, tm TIME(3), y YEAR);
			INSERT INTO t VALUES (1, '0000-00-00', '0000-00-00 00:00:00', NULL, '-838:59:59', 1901),
			(2, '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '838:59:59', 2155),
			(3, '1970-01-01', '2024-02-29 12:00:00.000001', '1970-01-01 00:00:01', '00:00:00.001', 0000);`},
		{"c_json", `CREATE TABLE t (id INT PRIMARY KEY, doc JSON, CHECK (JSON_VALID(doc)));
			INSERT INTO t VALUES (1, '{"a": [1, 2, {"b": "😀"}], "q": "it''s \\"quoted\\""}'), (2, '[]'), (3, 'null');`},
		{"c_enum_set", `CREATE TABLE t (id INT PRIMARY KEY, e ENUM('', 'small', 'it''s', 'x,y'), s SET('a', 'b', 'c'));
			INSERT INTO t VALUES (1, 'small', 'a,c'), (2, 'it''s', ''), (3, '', 'a,b,c'), (4, 'x,y', NULL);`},
		{"c_spatial", `CREATE TABLE t (id INT PRIMARY KEY, p POINT NOT NULL, g GEOMETRY, SPATIAL INDEX (p));
			INSERT INTO t VALUES (1, ST_GeomFromText('POINT(1 2)'), ST_GeomFromText('POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))')),
			(2, ST_GeomFromText('POINT(-73.99 40.73)'), NULL);`},
		{"c_auto_increment", `CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT) AUTO_INCREMENT = 1000;
			INSERT INTO t (v) VALUES (1), (2), (3); DELETE FROM t WHERE v = 3;
			INSERT INTO t (id, v) VALUES (0, 0);
			CREATE TABLE u (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY) AUTO_INCREMENT = 5000000000;`},
		{"c_engines", `CREATE TABLE my (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=MyISAM;
			CREATE TABLE ar (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=Aria;
			CREATE TABLE mem (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=MEMORY;
			INSERT INTO my VALUES (1, 'myisam'); INSERT INTO ar VALUES (1, 'aria'); INSERT INTO mem VALUES (1, 'memory');`},
		{"c_partitioned", `CREATE TABLE t (id INT, created DATE, v VARCHAR(10), PRIMARY KEY (id, created))
			PARTITION BY RANGE (YEAR(created)) (PARTITION p2020 VALUES LESS THAN (2021), PARTITION p2021 VALUES LESS THAN (2022), PARTITION pmax VALUES LESS THAN MAXVALUE);
			INSERT INTO t VALUES (1, '2020-05-01', 'a'), (2, '2021-05-01', 'b'), (3, '2030-01-01', 'c');`},
		{"c_fulltext", `CREATE TABLE t (id INT PRIMARY KEY, body TEXT, FULLTEXT INDEX ft (body)) ENGINE=InnoDB;
			INSERT INTO t VALUES (1, 'the quick brown fox'), (2, 'jumps over the lazy dog');`},
		{"c_keys_checks", `CREATE TABLE t (a INT, b VARCHAR(20), c INT, d TEXT, PRIMARY KEY (a, b), UNIQUE KEY uc (c), KEY kd (d(10)), CONSTRAINT chk_c CHECK (c >= 0));
			INSERT INTO t VALUES (1, 'x', 1, 'long text here'), (1, 'y', 2, NULL), (2, 'x', NULL, '');`},
		{"c_no_pk_dups", `CREATE TABLE t (v INT, s VARCHAR(10));
			INSERT INTO t VALUES (1, 'dup'), (1, 'dup'), (1, 'dup'), (NULL, NULL), (NULL, NULL);`},
		{"c_sequence", `CREATE SEQUENCE s START WITH 100 INCREMENT BY 5 CACHE 0;
			SELECT NEXTVAL(s), NEXTVAL(s), NEXTVAL(s);
			CREATE TABLE t (id INT PRIMARY KEY DEFAULT NEXTVAL(s), v INT); INSERT INTO t (v) VALUES (1), (2);`},
		{"c_invisible", `CREATE TABLE t (id INT PRIMARY KEY, v INT, hidden INT INVISIBLE DEFAULT 7);
			INSERT INTO t (id, v, hidden) VALUES (1, 1, 42), (2, 2, DEFAULT);`},
		{"c_strings", `CREATE TABLE t (id INT PRIMARY KEY, s TEXT);
			INSERT INTO t VALUES (1, 'single '' quote'), (2, 'double " quote'), (3, 'back\\slash \\n not newline'),
			(4, CONCAT('real', CHAR(10), 'newline', CHAR(13), CHAR(9), 'tab')), (5, CONCAT('nul', CHAR(0), 'byte')),
			(6, CONCAT('ctrl-z', CHAR(26))), (7, '/* not a comment */ -- nor this; DELIMITER ;;'), (8, '%_ wildcards');`},
		{"c_collation", `CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10) COLLATE utf8mb4_bin, UNIQUE (s));
			INSERT INTO t VALUES (1, 'a'), (2, 'A'), (3, 'ä'), (4, 'a\t');`},
		{"c_comments", `CREATE TABLE t (id INT PRIMARY KEY COMMENT 'the ''id'' column', v INT COMMENT 'with "double" quotes and 😀') COMMENT = 'table''s comment';
			INSERT INTO t VALUES (1, 1);`},
		{"c_wide", "CREATE TABLE t (id INT PRIMARY KEY, " + strings.Join(wide, ", ") + ") ROW_FORMAT=DYNAMIC;" +
			"INSERT INTO t VALUES (1, " + strings.Join(wideVals, ", ") + ");"},
		{"c_many_rows", `CREATE TABLE t (id INT PRIMARY KEY, h CHAR(32), n INT);
			INSERT INTO t SELECT seq, MD5(seq), seq % 97 FROM seq_1_to_50000;`},
		{"c_grants", `CREATE TABLE t (id INT PRIMARY KEY);
			CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw';
			CREATE USER 'ro'@'10.0.0.%' IDENTIFIED BY 'ro-pw';
			GRANT SELECT, INSERT ON c_grants.* TO 'app'@'%';
			GRANT SELECT (id) ON c_grants.t TO 'ro'@'10.0.0.%';
			CREATE ROLE reporting; GRANT SELECT ON c_grants.* TO reporting; GRANT reporting TO 'app'@'%';
			CREATE DEFINER='app'@'%' SQL SECURITY DEFINER VIEW v AS SELECT id FROM t;`},
		{"c_empty_tables", `CREATE TABLE a (id INT PRIMARY KEY); CREATE TABLE b (id INT PRIMARY KEY, v LONGBLOB) ENGINE=MyISAM;`},
	}
}

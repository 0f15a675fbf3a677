INSERT INTO users (id, email, name) VALUES (1, 'admin@example.com', 'Admin');

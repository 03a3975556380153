module github.com/segflow/segflow/deploy/deploytest

go 1.26.0

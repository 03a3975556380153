module github.com/segflow/segflow

go 1.26

module github.com/btcclient/btcclient-go

go 1.19

"""The streaming shell: the dataflow on Kafka partitions, run by a Faust worker."""

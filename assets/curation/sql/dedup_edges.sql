-- Near-duplicate pairs between vertices of the same side: what the dedup clusters are made of.
SELECT va.vertex, vb.vertex
FROM phash_edges e
JOIN dedup_vertices va ON va.node = e.a
JOIN dedup_vertices vb ON vb.node = e.b AND vb.is_test = va.is_test;
